"""Every route must declare who may call it, its envelope style and its rate bucket."""

from core.app import create_app
from core.keys import STYLES
from core.plugins import installed_plugins
from core.routing import policy_of
from core.testing import settings_for_tests


def test_every_route_of_every_installed_plugin_declares_a_policy():
    app = create_app(settings_for_tests("sqlite+aiosqlite:///:memory:", sorted(installed_plugins())))
    missing = []
    for route in app.router.routes():
        policy = policy_of(route.handler)
        if policy is None:
            missing.append(f"{route.method} {route.resource.canonical}")
            continue
        assert policy.envelope in app[STYLES], (route, policy.envelope)
        assert policy.access.kind in {"public", "user", "roles", "permission", "api_token"}
    assert not missing, f"routes without a policy: {missing}"
    assert len(list(app.router.routes())) > 4

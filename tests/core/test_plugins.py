import pluggy
import pytest
from fakeplugins import installed

from core.app import create_app
from core.errors import PluginError
from core.keys import PLUGIN_MANAGER, PLUGINS
from core.plugins import installed_plugins, resolve
from core.testing import settings_for_tests

URL = "sqlite+aiosqlite:///:memory:"


def test_builtin_and_example_plugins_are_discovered_through_the_entry_point_group():
    found = installed_plugins()
    assert "example" in found
    assert found["example"].target == "mentorkit_example"


def test_unknown_plugin_lists_what_is_installed():
    with pytest.raises(PluginError) as exc:
        create_app(settings_for_tests(URL, ["nope"]))
    assert "unknown plugin(s) nope" in str(exc.value)
    assert "example" in str(exc.value)


def test_missing_requirement_is_a_startup_error():
    fake = installed(alpha="fakeplugins:Alpha", beta="fakeplugins:Beta")
    with pytest.raises(PluginError, match="'alpha' requires beta, which is not enabled"):
        resolve(["alpha"], fake)


def test_requirements_load_first():
    fake = installed(alpha="fakeplugins:Alpha", beta="fakeplugins:Beta")
    assert [p.spec.name for p in resolve(["alpha", "beta"], fake)] == ["beta", "alpha"]


def test_dependency_cycle_is_reported():
    fake = installed(cyclea="fakeplugins:CycleA", cycleb="fakeplugins:CycleB")
    with pytest.raises(PluginError, match="cycle: cyclea -> cycleb -> cyclea"):
        resolve(["cyclea", "cycleb"], fake)


def test_route_collision_between_plugins_is_a_startup_error():
    fake = installed(claimone="fakeplugins:ClaimOne", claimtwo="fakeplugins:ClaimTwo")
    with pytest.raises(PluginError, match="GET /shared/{other} is claimed by both 'claimone' and 'claimtwo'"):
        create_app(settings_for_tests(URL, ["claimone", "claimtwo"]), installed=fake)


def test_misspelt_hook_fails_check_pending():
    fake = installed(misspelt="fakeplugins:Misspelt")
    with pytest.raises(pluggy.PluginValidationError):
        create_app(settings_for_tests(URL, ["misspelt"]), installed=fake)


def test_each_app_gets_its_own_plugin_manager():
    one = create_app(settings_for_tests(URL, ["example"]))
    two = create_app(settings_for_tests(URL, []))
    assert one[PLUGIN_MANAGER] is not two[PLUGIN_MANAGER]
    assert [p.spec.name for p in one[PLUGINS]] == ["example"]
    assert two[PLUGINS] == []


def test_disabled_plugin_mounts_no_routes():
    paths = {r.resource.canonical for r in create_app(settings_for_tests(URL, [])).router.routes()}
    assert not any(p.startswith("/example") for p in paths)
    paths = {r.resource.canonical for r in create_app(settings_for_tests(URL, ["example"])).router.routes()}
    assert "/example/notes" in paths


def test_prefix_is_configurable():
    app = create_app(settings_for_tests(URL, ["example"], example={"prefix": "/ext/notes-app"}))
    paths = {r.resource.canonical for r in app.router.routes()}
    assert "/ext/notes-app/notes" in paths


def test_plugin_config_section_is_validated():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="example.max_note_length"):
        create_app(settings_for_tests(URL, ["example"], example={"max_note_length": "many"}))


def test_without_an_enabled_list_every_builtin_and_no_third_party_plugin_runs():
    app = create_app(settings_for_tests(URL, []).with_overrides({"plugins": {"enabled": None}}))
    assert [p.spec.name for p in app[PLUGINS]] == ["coaching", "dialcode", "messaging", "qna"]
    assert installed_plugins()["example"].builtin is False

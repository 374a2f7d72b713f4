"""Every hook a plugin may implement.

Build-time hooks are synchronous and do no I/O: they run inside `create_app`
before the event loop serves anything. Runtime hooks may be coroutines; the core
awaits each implementation separately (see `core.plugins.call_async`) so one
failing handler cannot stop the others, and never uses `firstresult` on them.

A plugin implements a hook by defining a module-level function decorated with
`core.hookimpl` and named like the spec; pluggy matches arguments by name, so an
implementation may accept only the arguments it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncContextManager

import pluggy

if TYPE_CHECKING:
    from aiohttp import web

    from .config import Settings
    from .routing import Routes
    from .tasks import TaskSpec

hookspec = pluggy.HookspecMarker("mentorkit")
hookimpl = pluggy.HookimplMarker("mentorkit")


@hookspec(historic=True)
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Open hooks for other plugins: call `pm.add_hookspecs(module_or_class)`.

    Historic, so a plugin registered later still sees every hookspec module
    opened before it; qna uses it to publish `qna_answered`.
    """


@hookspec
def register_config(settings: "Settings") -> None:
    """Inspect the validated settings (the plugin's own section is
    `settings.section(<plugin name>)`). Raise `ConfigError` to refuse start-up."""


@hookspec
def register_models() -> list[type] | None:
    """Return the plugin's ORM model classes. Importing them registers their tables
    on the shared `core.db.Base` metadata, which the testing kit and alembic use."""


@hookspec
def register_routes(settings: "Settings") -> "Routes | None":
    """Return the plugin's `Routes`. They are mounted under the plugin's prefix
    (`[<plugin>] prefix` in config, else `PluginSpec.default_prefix`)."""


@hookspec
def register_permissions() -> dict[str, tuple[str, ...]] | None:
    """Return `{"<plugin>.<action>": (default roles...)}`. Config `auth.grants`
    may grant a permission to further roles."""


@hookspec
def register_rate_limits(settings: "Settings") -> dict[str, str | list[str]] | None:
    """Return named rate-limit buckets: `{"hard": ["1/second", "30/minute"]}`."""


@hookspec
def register_tasks(settings: "Settings") -> "list[TaskSpec] | None":
    """Return background tasks (`TaskSpec(name, run, every)`) for the supervisor."""


@hookspec
def register_envelopes() -> dict[str, Any] | None:
    """Return extra envelope styles: `{"name": EnvelopeStyle()}`."""


@hookspec
def register_commands(subparsers: Any) -> None:
    """Add `mentorkit <command>` subcommands to the argparse subparsers object.
    Set `run_with_app=async (app, args) -> int` as the parser default: it runs with a started app."""


@hookspec
def configure_app(app: "web.Application") -> None:
    """Build time, before the app is frozen: attach app-level signal handlers
    (`app.on_shutdown`, e.g. closing WebSockets with 1001) and app keys. No I/O."""


@hookspec
def lifespan(app: "web.Application") -> AsyncContextManager[None] | None:
    """Return an async context manager entered at start-up (in plugin dependency
    order, after the core's own resources) and exited at shutdown."""


@hookspec
def on_event(app: "web.Application", name: str, payload: dict[str, Any]) -> Any:
    """A domain event (`user.status_changed`, ...). May be a coroutine. Each
    implementation runs isolated: its failure is logged, not propagated."""


@hookspec
def health_check(app: "web.Application") -> Any:
    """Return (or await to) `{"name": "ok" | "down"}` entries merged into `/health`.
    A `down` entry makes the status `degraded`."""

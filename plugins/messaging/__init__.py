"""Conversations and realtime chat over WebSocket."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core import PluginSpec, hookimpl


class MessagingConfig(Schema):
    prefix = fields.String(load_default="")
    # The admin that system messages (M4) come from when no admin is acting.
    system_admin_id = fields.String(load_default="")
    send_queue_size = fields.Integer(load_default=256, validate=validate.Range(8, 100_000))
    messages_per_second = fields.Integer(load_default=5, validate=validate.Range(1, 1000))
    typing_throttle_seconds = fields.Float(load_default=2.0, validate=validate.Range(0, 60))
    typing_timeout_seconds = fields.Float(load_default=5.0, validate=validate.Range(0.01, 600))
    session_check_seconds = fields.Float(load_default=30.0, validate=validate.Range(0.05, 3600))
    heartbeat_seconds = fields.Float(load_default=30.0, validate=validate.Range(1, 3600))


spec = PluginSpec(
    name="messaging",
    config_schema=MessagingConfig,
    default_prefix="",
    version="0.1.0",
    description=__doc__.strip(),
)


@hookimpl
def add_hookspecs(pm: Any) -> None:
    from . import hookspecs

    pm.add_hookspecs(hookspecs)


@hookimpl
def register_models() -> list[type]:
    from . import models

    return [models.Conversation, models.ChatMessage, models.ChatModeration, models.ChatReadState]


@hookimpl
def register_routes() -> Any:
    from .views import routes

    return routes


@hookimpl
def lifespan(app: Any) -> Any:
    from .hub import hub_lifespan

    return hub_lifespan(app)


@hookimpl
def health_check(app: Any) -> dict[str, str]:
    from .hub import HUB

    hub = app.get(HUB)
    return {"messaging": "ok" if hub is not None and hub.listening else "down"}


@hookimpl
def configure_app(app: Any) -> None:
    from .hub import configure

    configure(app)


@hookimpl
def register_rate_limits(settings: Any) -> dict[str, str]:
    per_second = settings.section("messaging").get("messages_per_second", 5)
    return {"messaging-send": f"{per_second}/second"}


# Account changes (status, role, deletion: core emits `user.*` events) re-check that
# user's open chat sockets at once; revoked sessions (logout) are caught by the
# periodic check every `session_check_seconds`.
@hookimpl
async def on_event(app: Any, name: str, payload: dict[str, Any]) -> None:
    from .hub import HUB

    hub = app.get(HUB)
    user_id = payload.get("userId") if isinstance(payload, dict) else None
    if hub is not None and user_id and name.startswith("user.") and name != "user.created":
        await hub.check_sessions(user_id)

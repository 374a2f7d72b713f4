"""Typed application keys: everything the core keeps on the app, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy
from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("mentorkit_settings", "Settings")
PLUGIN_MANAGER = web.AppKey("mentorkit_pm", pluggy.PluginManager)
PLUGINS = web.AppKey("mentorkit_plugins", "list[LoadedPlugin]")
DB = web.AppKey("mentorkit_db", "Database")
STYLES = web.AppKey("mentorkit_styles", "dict[str, EnvelopeStyle]")
ROUTES = web.AppKey("mentorkit_routes", "list[RouteDef]")
PERMISSIONS = web.AppKey("mentorkit_permissions", "PermissionRegistry")
AUTH = web.AppKey("mentorkit_auth", "Authenticator")
RATE_BUCKETS = web.AppKey("mentorkit_rate_buckets", "dict[str, list[str]]")
RATE_LIMITER = web.AppKey("mentorkit_rate_limiter", Any)
TASK_SPECS = web.AppKey("mentorkit_task_specs", list)
SUPERVISOR = web.AppKey("mentorkit_supervisor", Any)
PUBSUB = web.AppKey("mentorkit_pubsub", Any)
REDIS = web.AppKey("mentorkit_redis", Any)
MAILER = web.AppKey("mentorkit_mailer", Any)
CLOCK = web.AppKey("mentorkit_clock", Any)

# Per-request values the core sets.
REQUEST_ID = web.RequestKey("mentorkit_request_id", str)
REQUEST_START = web.RequestKey("mentorkit_request_start", float)
POLICY = web.RequestKey("mentorkit_policy", Any)
IDENTITY = web.RequestKey("mentorkit_identity", Any)
BODY = web.RequestKey("mentorkit_body", Any)
QUERY = web.RequestKey("mentorkit_query", Any)
EXTRA_HEADERS = web.RequestKey("mentorkit_extra_headers", dict)
SUNBIRD_MSGID = web.RequestKey("mentorkit_sunbird_msgid", Any)

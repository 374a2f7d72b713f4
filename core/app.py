"""`create_app(settings)`: the only way an application is built.

No globals: the plugin manager, database, limiter and task supervisor all live on
the app under `core.keys`, so two apps (two tests, two tenants) never share state.
Build-time work (plugins, routes, permissions) happens here synchronously and fails
fast; I/O (database, Redis, tasks, plugin lifespans) happens in `cleanup_ctx`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from contextlib import AsyncExitStack
from types import ModuleType
from typing import Any, AsyncIterator, Callable

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import health, migrate, openapi, tasks
from .auth import views as auth_views
from .auth.bootstrap import bootstrap_admin_ctx
from .auth.identity import Authenticator
from .auth.models import KeyValue
from .auth.permissions import PermissionRegistry
from .auth.tokens import JwtKeys
from .clock import Clock
from .config import Settings
from .db import Database
from .envelopes import BUILTIN_STYLES, EnvelopeStyle
from .errors import ConfigError, PluginError
from .keys import (
    AUTH,
    CLOCK,
    DB,
    PERMISSIONS,
    PLUGIN_MANAGER,
    PLUGINS,
    RATE_BUCKETS,
    ROUTES,
    SETTINGS,
    STYLES,
    TASK_SPECS,
)
from .middlewares import add_request_id_header, enforce_policy, errors, request_context
from .notifications import views as notification_views
from .notifications.mailer import mailer_ctx
from .plugins import (
    CORE_PLUGIN,
    Installed,
    LoadedPlugin,
    call_each,
    default_enabled,
    installed_plugins,
    make_plugin_manager,
    resolve,
)
from .pubsub import pubsub_ctx, redis_ctx
from .ratelimit import ratelimit_ctx
from .routing import POLICY_ATTR, RouteDef, Routes

log = logging.getLogger("mentorkit.app")

# Core modules that implement hooks, registered before any plugin.
CORE_MODULES: list[ModuleType] = [health, openapi, tasks, auth_views, notification_views]

# Core services started after the database and before plugin lifespans (aiohttp
# cleanup_ctx functions: set up, yield, tear down in reverse order).
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
CORE_CONTEXTS: list[CleanupCtx] = [redis_ctx, ratelimit_ctx, pubsub_ctx, mailer_ctx, bootstrap_admin_ctx]


def enabled_plugin_names(settings: Settings, installed: dict[str, Installed] | None = None) -> list[str]:
    enabled = settings.plugins.enabled
    if enabled is not None:
        return list(enabled)
    return default_enabled(installed_plugins() if installed is None else installed)


def create_app(settings: Settings, *, installed: dict[str, Installed] | None = None) -> web.Application:
    """Build an app from settings. `installed` replaces entry-point discovery (tests)."""
    installed = installed_plugins() if installed is None else installed
    plugins = resolve(enabled_plugin_names(settings, installed), installed)
    settings.validate_plugin_sections({p.spec.name: p.spec.config_schema for p in plugins})
    pm = make_plugin_manager(CORE_MODULES, plugins)

    app = web.Application(
        client_max_size=settings.server.client_max_size,
        middlewares=[request_context, errors, enforce_policy],
    )
    app[SETTINGS] = settings
    app[CLOCK] = Clock()
    app[PLUGIN_MANAGER] = pm
    app[PLUGINS] = plugins
    app.on_response_prepare.append(add_request_id_header)

    call_each(pm, "register_config", settings=settings)
    call_each(pm, "register_models")  # importing model modules registers their tables
    app[STYLES] = _styles(pm)
    app[PERMISSIONS] = _permissions(pm, settings)
    app[RATE_BUCKETS] = _rate_buckets(pm, settings)
    app[TASK_SPECS] = [spec for _, specs in call_each(pm, "register_tasks", settings=settings) for spec in specs or ()]
    app[ROUTES] = _mount_routes(app, pm, plugins, settings, app[RATE_BUCKETS])
    app[openapi.SPEC_KEY] = openapi.build_spec(app[ROUTES], "Mentorkit", "0.1.0")
    call_each(pm, "configure_app", app=app)  # signal handlers need the unfrozen app

    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.extend(CORE_CONTEXTS)
    app.cleanup_ctx.append(_plugin_lifespans)
    app.cleanup_ctx.append(tasks.supervisor_ctx)  # last: tasks start once everything is up
    return app


def _styles(pm: Any) -> dict[str, EnvelopeStyle]:
    styles: dict[str, EnvelopeStyle] = dict(BUILTIN_STYLES)
    for plugin, extra in call_each(pm, "register_envelopes"):
        for name, style in (extra or {}).items():
            if name in styles:
                raise PluginError(f"plugin {plugin!r} registers envelope style {name!r}, which already exists")
            styles[name] = style
    return styles


def _permissions(pm: Any, settings: Settings) -> PermissionRegistry:
    registry = PermissionRegistry()
    for plugin, declared in call_each(pm, "register_permissions"):
        registry.declare(plugin, declared or {})
    registry.grant(settings.auth.grants)
    return registry


def _rate_buckets(pm: Any, settings: Settings) -> dict[str, list[str]]:
    buckets: dict[str, list[str]] = {"default": [settings.ratelimit.default], "login": [settings.auth.login_limit]}
    for plugin, declared in call_each(pm, "register_rate_limits", settings=settings):
        for name, limits in (declared or {}).items():
            if name in buckets and name not in ("default",):
                existing = buckets[name]
                wanted = [limits] if isinstance(limits, str) else list(limits)
                if existing != wanted:
                    raise PluginError(f"plugin {plugin!r} redefines rate-limit bucket {name!r} differently")
            buckets[name] = [limits] if isinstance(limits, str) else list(limits)
    return buckets


def _canonical(method: str, path: str) -> tuple[str, str]:
    return method, re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def _prefix(plugin: LoadedPlugin | None, settings: Settings) -> str:
    if plugin is None:
        return ""
    prefix = settings.section(plugin.spec.name).get("prefix", plugin.spec.default_prefix)
    return "/" + prefix.strip("/") if prefix.strip("/") else ""


def _mount_routes(
    app: web.Application, pm: Any, plugins: list[LoadedPlugin], settings: Settings, buckets: dict[str, list[str]]
) -> list[RouteDef]:
    by_name = {p.spec.name: p for p in plugins}
    claimed: dict[tuple[str, str], str] = {}
    mounted: list[RouteDef] = []
    for plugin_name, table in call_each(pm, "register_routes", settings=settings):
        if table is None:
            continue
        if not isinstance(table, Routes):
            raise PluginError(f"plugin {plugin_name!r}: register_routes must return a core.Routes")
        prefix = _prefix(by_name.get(plugin_name), settings)
        for route in table:
            path = prefix + route.path
            key = _canonical(route.method, path)
            if key in claimed:
                raise PluginError(
                    f"route {route.method} {path} is claimed by both {claimed[key]!r} and {plugin_name!r}"
                )
            claimed[key] = plugin_name
            if route.policy.rate is not None and route.policy.rate not in buckets:
                raise PluginError(f"route {route.method} {path} of {plugin_name!r} uses unknown rate-limit bucket {route.policy.rate!r}")
            policy = dataclasses.replace(route.policy, plugin=plugin_name)
            setattr(route.handler, POLICY_ATTR, policy)
            app.router.add_route(route.method, path, route.handler, name=route.name)
            mounted.append(dataclasses.replace(route, path=path, policy=policy))
    return mounted


async def _jwt_keys(db: Database, settings: Settings) -> JwtKeys:
    auth = settings.auth
    if auth.jwt_algorithm == "RS256":
        if not auth.private_key:
            raise ConfigError(["auth.private_key: required when auth.jwt_algorithm is RS256"])
        return JwtKeys.from_settings("RS256", "", auth.private_key)
    if auth.jwt_secret:
        return JwtKeys.from_settings("HS256", auth.jwt_secret, "")
    # Embedded default: one generated secret per database, shared by every worker.
    async with db.session() as session:
        session.add(KeyValue(key="jwt_secret", value=secrets.token_urlsafe(48)))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
        secret = (await session.execute(select(KeyValue.value).where(KeyValue.key == "jwt_secret"))).scalar_one()
    return JwtKeys.from_settings("HS256", secret, "")


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = Database(settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size)
    app[DB] = db
    try:
        enabled = [p.spec.name for p in app[PLUGINS]]
        if settings.auto_migrate:
            await migrate.upgrade(db, enabled)
        else:
            missing = await migrate.pending(db, enabled)
            if missing:
                raise ConfigError(
                    [f"database has pending migrations for {', '.join(missing)}; run `mentorkit db upgrade` first"]
                )
        app[AUTH] = Authenticator(db, await _jwt_keys(db, settings), app[PERMISSIONS])
        yield
    finally:
        await db.dispose()


async def _plugin_lifespans(app: web.Application) -> AsyncIterator[None]:
    """Enter each plugin's lifespan in dependency order; exit in reverse."""
    pm = app[PLUGIN_MANAGER]
    async with AsyncExitStack() as stack:
        for name, manager in call_each(pm, "lifespan", app=app):
            if manager is not None:
                log.debug("entering lifespan of %s", name)
                await stack.enter_async_context(manager)
        yield


__all__ = ["create_app", "CORE_MODULES", "CORE_CONTEXTS", "CORE_PLUGIN"]

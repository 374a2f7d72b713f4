"""Every hookspec in core/hookspecs.py, tested on its own through one plugin that
implements them all (the way Datasette tests its plugin hooks)."""

from __future__ import annotations

import argparse
import inspect
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from fakeplugins import installed

from core import PUBLIC, EnvelopeStyle, PluginSpec, Routes, hookimpl, hookspecs
from core.app import create_app
from core.errors import ApiError, ConfigError
from core.jsonutil import json_response
from core.keys import PERMISSIONS, PLUGIN_MANAGER, RATE_BUCKETS, STYLES, TASK_SPECS
from core.plugins import emit
from core.tasks import TaskSpec
from core.testing import settings_for_tests

URL = "sqlite+aiosqlite:///:memory:"
CALLS: list[str] = []
SEEN_EVENTS: list[tuple[str, dict]] = []


class Teapot(EnvelopeStyle):
    name = "teapot"

    def error(self, request: web.Request, err: ApiError) -> web.Response:
        return json_response({"teapot": err.message}, status=err.status)


async def _tick(app: web.Application) -> None:
    CALLS.append("tick")


class EveryHook:
    spec = PluginSpec("everyhook")

    @staticmethod
    @hookimpl
    def add_hookspecs(pm):
        from fakeplugins import EveryHookSpecs

        pm.add_hookspecs(EveryHookSpecs)

    @staticmethod
    @hookimpl
    def register_config(settings):
        if settings.section("everyhook").get("refuse"):
            raise ConfigError(["everyhook.refuse: this plugin refuses to start"])

    @staticmethod
    @hookimpl
    def register_models():
        return []

    @staticmethod
    @hookimpl
    def register_routes():
        routes = Routes(envelope="teapot", rate="brew")

        @routes.get("/brew", access=PUBLIC)
        async def brew(request: web.Request) -> web.Response:
            raise ApiError("I am a teapot.", status=418, code="teapot")

        return routes

    @staticmethod
    @hookimpl
    def register_permissions():
        return {"everyhook.brew": ("student",)}

    @staticmethod
    @hookimpl
    def register_rate_limits():
        return {"brew": ["7/minute"]}

    @staticmethod
    @hookimpl
    def register_tasks():
        return [TaskSpec("everyhook.tick", _tick, every=3600)]

    @staticmethod
    @hookimpl
    def register_envelopes():
        return {"teapot": Teapot()}

    @staticmethod
    @hookimpl
    def register_commands(subparsers):
        subparsers.add_parser("brew", help="brew tea")

    @staticmethod
    @hookimpl
    def configure_app(app):
        app.on_shutdown.append(_on_shutdown)

    @staticmethod
    @hookimpl
    def lifespan(app):
        @asynccontextmanager
        async def span():
            CALLS.append("enter")
            yield
            CALLS.append("exit")

        return span()

    @staticmethod
    @hookimpl
    async def on_event(app, name, payload):
        SEEN_EVENTS.append((name, payload))

    @staticmethod
    @hookimpl
    def health_check(app):
        return {"kettle": "down"}


async def _on_shutdown(app: web.Application) -> None:
    CALLS.append("shutdown")


class Broken:
    """Fails in a runtime hook: the others must still run."""

    spec = PluginSpec("broken")

    @staticmethod
    @hookimpl
    async def on_event(app, name, payload):
        raise RuntimeError("boom")


FAKE = installed(everyhook="test_hookspecs:EveryHook", broken="test_hookspecs:Broken")


def make(**overrides):
    return create_app(settings_for_tests(URL, ["everyhook", "broken"], **overrides), installed=FAKE)


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    SEEN_EVENTS.clear()


TESTED = {
    "add_hookspecs", "register_config", "register_models", "register_routes", "register_permissions",
    "register_rate_limits", "register_tasks", "register_envelopes", "register_commands", "configure_app",
    "lifespan", "on_event", "health_check",
}


def test_every_hookspec_has_a_test_here():
    specs = {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(fn, "mentorkit_spec")}
    assert specs == TESTED
    for name in specs:
        assert getattr(hookspecs, name).__doc__, f"hookspec {name} is undocumented"


def test_add_hookspecs_opens_a_hook_for_other_plugins():
    app = make()
    assert app[PLUGIN_MANAGER].hook.everyhook_brewed.spec is not None


def test_register_config_can_refuse_startup():
    with pytest.raises(ConfigError, match="refuses to start"):
        make(everyhook={"refuse": True})


def test_register_models_is_called():
    pm = make()[PLUGIN_MANAGER]
    assert [] in pm.hook.register_models()


def test_register_routes_mounts_with_the_plugins_policy():
    app = make()
    paths = {r.resource.canonical for r in app.router.routes()}
    assert "/brew" in paths


def test_register_permissions_grants_to_default_roles():
    assert make()[PERMISSIONS].roles_for("everyhook.brew") == {"student"}


def test_register_rate_limits_declares_buckets():
    assert make()[RATE_BUCKETS]["brew"] == ["7/minute"]


def test_register_tasks_feeds_the_supervisor():
    assert "everyhook.tick" in [spec.name for spec in make()[TASK_SPECS]]


async def test_register_envelopes_renders_errors_in_the_new_style(aiohttp_client, sqlite_url):
    app = create_app(settings_for_tests(sqlite_url, ["everyhook", "broken"]), installed=FAKE)
    assert "teapot" in app[STYLES]
    client = await aiohttp_client(app)
    resp = await client.get("/brew")
    assert resp.status == 418
    assert await resp.json() == {"teapot": "I am a teapot."}


def test_register_commands_adds_subcommands():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    make()[PLUGIN_MANAGER].hook.register_commands(subparsers=sub)
    assert parser.parse_args(["brew"]).command == "brew"


async def test_configure_app_lifespan_and_shutdown_order(aiohttp_client, sqlite_url):
    app = create_app(settings_for_tests(sqlite_url, ["everyhook", "broken"]), installed=FAKE)
    client = await aiohttp_client(app)
    assert CALLS == ["enter"]
    await client.close()
    assert CALLS == ["enter", "shutdown", "exit"]


async def test_on_event_handlers_are_isolated(aiohttp_client, sqlite_url, caplog):
    app = create_app(settings_for_tests(sqlite_url, ["broken", "everyhook"]), installed=FAKE)
    client = await aiohttp_client(app)
    await emit(client.app, "tea.ready", {"cups": 2})
    assert SEEN_EVENTS == [("tea.ready", {"cups": 2})]
    assert any("hook on_event failed in plugin broken" in r.getMessage() for r in caplog.records)


async def test_health_check_entries_degrade_status(aiohttp_client, sqlite_url):
    app = create_app(settings_for_tests(sqlite_url, ["everyhook", "broken"]), installed=FAKE)
    client = await aiohttp_client(app)
    body = await (await client.get("/health")).json()
    assert body["checks"] == {"kettle": "down"}
    assert body["status"] == "degraded"

"""Plugins that exist only for core tests, installed by handing `create_app` fake entry points."""

from __future__ import annotations

from importlib import metadata

from aiohttp import web
from marshmallow import Schema, fields

from core import PUBLIC, USER, PluginSpec, Routes, errors, hookimpl, hookspec, roles
from core.jsonutil import json_response
from core.keys import BODY, IDENTITY
from core.plugins import ENTRY_POINT_GROUP, Installed


def installed(**targets: str) -> dict[str, Installed]:
    """{"alpha": "fakeplugins:Alpha"} -> entries as entry-point discovery returns them."""
    return {
        name: Installed(name, target, "0.0.1", metadata.EntryPoint(name, target, ENTRY_POINT_GROUP))
        for name, target in targets.items()
    }


class Alpha:
    spec = PluginSpec("alpha", requires=("beta",))


class Beta:
    spec = PluginSpec("beta")


class CycleA:
    spec = PluginSpec("cyclea", requires=("cycleb",))


class CycleB:
    spec = PluginSpec("cycleb", requires=("cyclea",))


def _claim(path: str) -> Routes:
    routes = Routes(envelope="drf")

    @routes.get(path, access=PUBLIC)
    async def claimed(request: web.Request) -> web.Response:
        return json_response({"ok": True})

    return routes


class ClaimOne:
    spec = PluginSpec("claimone")

    @staticmethod
    @hookimpl
    def register_routes():
        return _claim("/shared/{id}")


class ClaimTwo:
    spec = PluginSpec("claimtwo")

    @staticmethod
    @hookimpl
    def register_routes():
        return _claim("/shared/{other}")


class Misspelt:
    spec = PluginSpec("misspelt")

    @staticmethod
    @hookimpl
    def register_rotes():
        return None


class Body(Schema):
    name = fields.String(required=True)


def error_routes(style: str) -> Routes:
    """Routes raising every error status, in one envelope style, under /<style>/."""
    routes = Routes(envelope=style, rate=None)

    @routes.post("/body", access=PUBLIC, body=Body)
    async def body(request: web.Request) -> web.Response:
        return json_response(request[BODY])

    @routes.get("/signed-in", access=USER)
    async def signed_in(request: web.Request) -> web.Response:
        return json_response({"user": request[IDENTITY].user_id})

    @routes.get("/admins", access=roles("admin"))
    async def admins(request: web.Request) -> web.Response:
        return json_response({})

    @routes.get("/raise/{status}", access=PUBLIC)
    async def raise_status(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        if status == 500:
            raise RuntimeError("secret internal detail")
        raise errors.error_for_status(status, f"status {status}")

    @routes.post("/upload", access=PUBLIC)
    async def upload(request: web.Request) -> web.Response:
        await request.read()
        return json_response({})

    return routes


class Styles:
    spec = PluginSpec("styles")

    @staticmethod
    @hookimpl
    def register_routes():
        merged = Routes(envelope="tutorhub")
        for style in ("tutorhub", "drf", "maestro", "sunbird"):
            for route in error_routes(style):
                route.path = f"/{style}{route.path}"
                merged.defs.append(route)
        return merged


# --- rate limiting (tests/core/test_ratelimit.py) ---------------------------------------------

class Throttled:
    """The coaching `hard` bucket on one route per envelope style, plus routes for
    API tokens and a login-like explicit key."""

    spec = PluginSpec("throttled")

    @staticmethod
    @hookimpl
    def register_rate_limits():
        return {"hard": ["1/second", "30/minute"], "pair": "2/minute"}

    @staticmethod
    @hookimpl
    def register_routes():
        from core.keys import RATE_LIMITER
        from core.routing import Access

        routes = Routes(envelope="maestro", rate="hard")
        for style in ("tutorhub", "drf", "maestro", "sunbird"):
            @routes.get(f"/{style}/hard", access=PUBLIC, envelope=style)
            async def hard(request: web.Request) -> web.Response:
                return json_response({"ok": True})

        @routes.get("/tokens/hard", access=Access("user", api_token=True))
        async def token_hard(request: web.Request) -> web.Response:
            return json_response({"ok": True})

        @routes.post("/attempt/{account}", access=PUBLIC, envelope="tutorhub", rate=None)
        async def attempt(request: web.Request) -> web.Response:
            limiter = request.app[RATE_LIMITER]
            headers = await limiter.hit_key("pair", "account:" + request.match_info["account"])
            return json_response({"ok": True}, headers=headers)

        return routes


# --- background tasks (tests/core/test_tasks.py) ----------------------------------------------

# (task name, id(app)) per call, and what happened to long-running tasks; tests reset them.
TASK_CALLS: list[tuple[str, int]] = []
TASK_EVENTS: list[str] = []


async def _flaky(app: web.Application) -> None:
    TASK_CALLS.append(("ticker.flaky", id(app)))
    if len(TASK_CALLS) in (1, 3):
        raise RuntimeError(f"boom #{len(TASK_CALLS)}")


async def _slow(app: web.Application) -> None:
    import asyncio

    TASK_CALLS.append(("slow.run", id(app)))
    try:
        await asyncio.sleep(0.3)
    except asyncio.CancelledError:
        TASK_EVENTS.append("slow.cancelled")
        raise


async def _forever(app: web.Application) -> None:
    import asyncio

    TASK_EVENTS.append("forever.started")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        TASK_EVENTS.append("forever.cancelled")
        raise


class Ticker:
    spec = PluginSpec("ticker")

    @staticmethod
    @hookimpl
    def register_tasks():
        from core.tasks import TaskSpec

        return [TaskSpec("ticker.flaky", _flaky, every=0.05)]


class SlowTask:
    spec = PluginSpec("slowtask")

    @staticmethod
    @hookimpl
    def register_tasks():
        from core.tasks import TaskSpec

        return [TaskSpec("slow.run", _slow, every=3600), TaskSpec("slow.forever", _forever)]


OVERLAP = {"active": 0, "max": 0, "runs": 0}


async def _guarded(app: web.Application) -> None:
    import asyncio

    OVERLAP["active"] += 1
    OVERLAP["runs"] += 1
    OVERLAP["max"] = max(OVERLAP["max"], OVERLAP["active"])
    try:
        await asyncio.sleep(0.03)
    finally:
        OVERLAP["active"] -= 1


class Overlap:
    """A task ticking faster than it runs, to show two workers never run it at once."""

    spec = PluginSpec("overlap")

    @staticmethod
    @hookimpl
    def register_tasks():
        from core.tasks import TaskSpec

        return [TaskSpec("overlap.guarded", _guarded, every=0.005)]


async def _stubborn(app: web.Application) -> None:
    """Ignores the first cancellation, as a task caught in Python 3.11's `wait_for`
    race does (a cancel that coincides with the awaited operation finishing is lost)."""
    import asyncio

    TASK_EVENTS.append("stubborn.started")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        TASK_EVENTS.append("stubborn.ignored-cancel")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        TASK_EVENTS.append("stubborn.cancelled")
        raise


class Stubborn:
    spec = PluginSpec("stubborn")

    @staticmethod
    @hookimpl
    def register_tasks():
        from core.tasks import TaskSpec

        return [TaskSpec("stubborn.run", _stubborn)]


class EveryHookSpecs:
    """A hook that the `everyhook` test plugin opens for other plugins."""

    @staticmethod
    @hookspec
    def everyhook_brewed(app, cups):
        """Called after tea is brewed."""

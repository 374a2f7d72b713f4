"""Plugins that exist only for core tests, installed by handing `create_app` fake entry points."""

from __future__ import annotations

from importlib import metadata

from aiohttp import web

from core import PUBLIC, USER, PluginSpec, Routes, errors, hookimpl, roles
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


def error_routes(style: str) -> Routes:
    """Routes raising every error status, in one envelope style, under /<style>/."""
    routes = Routes(envelope=style, rate=None)
    from marshmallow import Schema, fields

    class Body(Schema):
        name = fields.String(required=True)

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

"""OpenAPI 3 for every enabled route, and Swagger UI, from the same marshmallow schemas
the routes validate with (aiohttp-apispec-acapy builds the document)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import aiohttp_apispec
from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from .errors import NotFound
from .hookspecs import hookimpl
from .jsonutil import json_response
from .routing import PUBLIC, RouteDef, Routes

SPEC_KEY = web.AppKey("mentorkit_openapi", dict)
STATIC_DIR = Path(aiohttp_apispec.__file__).parent / "static"
STATIC_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png", "favicon-16x16.png"}


def _operation(route: RouteDef) -> dict[str, Any]:
    """One OpenAPI 3 operation from the route's policy and its aiohttp-apispec metadata.

    The metadata is copied, not consumed: aiohttp-apispec's own registration pops
    it from the handler (so a second app would lose it) and emits Swagger 2 body
    parameters, so the OpenAPI 3 shape is assembled here.
    """
    meta = copy.deepcopy(getattr(route.handler, "__apispec__", {}))
    policy = route.policy
    operation: dict[str, Any] = {
        "summary": meta.get("summary") or route.handler.__name__,
        "tags": [policy.plugin or "core"],
        "x-access": policy.access.describe(),
        "x-envelope": policy.envelope,
        "responses": {"default": {"description": f"{policy.envelope} envelope"}},
    }
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{([^}:]+)", route.path)
    ]
    for entry in meta.get("schemas", []):
        if entry["location"] == "json":
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": entry["schema"]}}}
        elif entry["location"] == "querystring":
            parameters.append({"in": "query", "schema": entry["schema"]})
    if parameters:
        operation["parameters"] = parameters
    if policy.rate:
        operation["x-rate-limit-bucket"] = policy.rate
    if policy.access.kind == "api_token":
        operation["security"] = [{"apiToken": []}]
    elif policy.access.kind != "public":
        operation["security"] = [{"bearer": []}, {"apiToken": []}] if policy.access.api_token else [{"bearer": []}]
    return operation


def build_spec(route_defs: list[RouteDef], title: str, version: str) -> dict[str, Any]:
    spec = APISpec(title=title, version=version, openapi_version="3.0.3", plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme("apiToken", {"type": "apiKey", "in": "header", "name": "apiToken"})
    by_path: dict[str, dict[str, Any]] = {}
    for route in route_defs:
        by_path.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _schema_name(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    module = cls.__module__.split(".")
    prefix = module[1] if len(module) > 1 and module[0] == "plugins" else module[0]
    return f"{prefix}.{cls.__name__}" if prefix not in ("core", "__main__") else cls.__name__


routes = Routes(envelope="tutorhub", rate=None)


@routes.get("/api/docs/swagger.json", access=PUBLIC, summary="OpenAPI document for every enabled route")
async def swagger_json(request: web.Request) -> web.Response:
    return json_response(request.app[SPEC_KEY])


@routes.get("/api/docs", access=PUBLIC, summary="Swagger UI")
async def swagger_ui(request: web.Request) -> web.Response:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{ static }}", "/api/docs/static").replace("{{ path }}", "/api/docs/swagger.json")
    page = page.replace("{{ display_configurations }}", "{}")
    return web.Response(text=page, content_type="text/html")


@routes.get("/api/docs/static/{filename}", access=PUBLIC, summary="Swagger UI assets")
async def swagger_static(request: web.Request) -> web.StreamResponse:
    filename = request.match_info["filename"]
    if filename not in STATIC_FILES:
        raise NotFound()
    return web.FileResponse(STATIC_DIR / filename)


@hookimpl
def register_routes() -> Routes:
    return routes

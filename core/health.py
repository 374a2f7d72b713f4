"""`GET /health`: database, Redis and plugin checks for load balancers and operators."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from .hookspecs import hookimpl
from .jsonutil import json_response
from .keys import DB, PLUGIN_MANAGER, PLUGINS, REDIS
from .plugins import call_async
from .routing import PUBLIC, Routes

routes = Routes(envelope="tutorhub", rate=None)


async def _database_ok(app: web.Application) -> bool:
    try:
        async with app[DB].engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _redis_state(app: web.Application) -> str:
    client = app.get(REDIS)
    if client is None:
        return "disabled"
    try:
        await client.ping()
        return "ok"
    except Exception:
        return "down"


@routes.get("/health", access=PUBLIC, summary="Liveness and dependency health")
async def health(request: web.Request) -> web.Response:
    app = request.app
    database_ok = await _database_ok(app)
    body = {
        "status": "ok",
        "database": "ok" if database_ok else "down",
        "redis": await _redis_state(app),
        "plugins": [p.spec.name for p in app[PLUGINS]],
    }
    for _, checks in await call_async(app[PLUGIN_MANAGER], "health_check", app=app):
        for name, state in (checks or {}).items():
            body.setdefault("checks", {})[name] = state
    states = [body["database"], body["redis"], *body.get("checks", {}).values()]
    if any(state == "down" for state in states):
        body["status"] = "degraded"
    return json_response(body, status=200 if database_ok else 503)


@hookimpl
def register_routes() -> Routes:
    return routes

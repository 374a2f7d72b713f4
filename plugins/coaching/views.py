"""Coaching routes (maestro style): thin handlers over `services` and `export`."""

from __future__ import annotations

from aiohttp import web

from core import API_TOKEN_ONLY, USER, Routes, permission
from core.jsonutil import json_response
from core.keys import BODY, DB, QUERY, SETTINGS

from . import services
from .export import parse_body, stream_export
from .schemas import PageQuery, PointCreate, PointPatch, SessionCreate, SessionPatch, TodoCreate, TodoPatch
from .services import COACH_PERMISSION, POINTS, TODOS

routes = Routes(envelope="maestro", rate="default")


@routes.post("/coaching-sessions", access=API_TOKEN_ONLY, rate="hard", summary="Export coaching sessions (streamed)")
async def export_sessions(request: web.Request) -> web.StreamResponse:
    """Every session in a window of at most `max_days` days, with its activity, points and to-dos."""
    config = request.app[SETTINGS].section("coaching")
    window = parse_body(await request.read(), config.max_days)
    return await stream_export(request, request.app[DB], window, config.export_chunk_size)


# --- sessions ----------------------------------------------------------------------------


@routes.post("/coaching/sessions", access=permission(COACH_PERMISSION), body=SessionCreate, summary="Create a session")
async def create_session(request: web.Request) -> web.Response:
    return json_response(await services.create_session(request, request[BODY]), status=201)


@routes.get("/coaching/sessions", access=USER, query=PageQuery, summary="List the sessions you coach or were shared")
async def list_sessions(request: web.Request) -> web.Response:
    query = request[QUERY]
    return json_response(await services.list_sessions(request, query["page"], query["page_size"]))


@routes.get("/coaching/sessions/{id}", access=USER, summary="Read a session")
async def get_session(request: web.Request) -> web.Response:
    return json_response(await services.get_session(request, request.match_info["id"]))


@routes.patch("/coaching/sessions/{id}", access=USER, body=SessionPatch, summary="Change a session")
async def update_session(request: web.Request) -> web.Response:
    return json_response(await services.update_session(request, request.match_info["id"], request[BODY]))


@routes.delete("/coaching/sessions/{id}", access=USER, summary="Delete a session (soft)")
async def delete_session(request: web.Request) -> web.Response:
    await services.delete_session(request, request.match_info["id"])
    return web.Response(status=204)


@routes.post("/coaching/sessions/{id}/share", access=USER, summary="Share a session with its agent")
async def share_session(request: web.Request) -> web.Response:
    return json_response(await services.share_session(request, request.match_info["id"]))


@routes.post("/coaching/sessions/{id}/confirm", access=USER, summary="Confirm a session (as its coach or agent)")
async def confirm_session(request: web.Request) -> web.Response:
    return json_response(await services.confirm_session(request, request.match_info["id"]))


# --- coaching points ---------------------------------------------------------------------


@routes.post("/coaching/points", access=USER, body=PointCreate, summary="Add a coaching point to sessions")
async def create_point(request: web.Request) -> web.Response:
    return json_response(await services.create_member(request, POINTS, request[BODY]), status=201)


@routes.patch("/coaching/points/{id}", access=USER, body=PointPatch, summary="Change a coaching point")
async def update_point(request: web.Request) -> web.Response:
    return json_response(await services.update_member(request, POINTS, request.match_info["id"], request[BODY]))


@routes.delete("/coaching/points/{id}", access=USER, summary="Delete a coaching point (soft)")
async def delete_point(request: web.Request) -> web.Response:
    await services.delete_member(request, POINTS, request.match_info["id"])
    return web.Response(status=204)


# --- to-dos ------------------------------------------------------------------------------


@routes.post("/coaching/todos", access=USER, body=TodoCreate, summary="Add a to-do to sessions")
async def create_todo(request: web.Request) -> web.Response:
    return json_response(await services.create_member(request, TODOS, request[BODY]), status=201)


@routes.patch("/coaching/todos/{id}", access=USER, body=TodoPatch, summary="Change a to-do")
async def update_todo(request: web.Request) -> web.Response:
    return json_response(await services.update_member(request, TODOS, request.match_info["id"], request[BODY]))


@routes.delete("/coaching/todos/{id}", access=USER, summary="Delete a to-do (soft)")
async def delete_todo(request: web.Request) -> web.Response:
    await services.delete_member(request, TODOS, request.match_info["id"])
    return web.Response(status=204)


@routes.post("/coaching/todos/{id}/complete", access=USER, summary="Complete a to-do")
async def complete_todo(request: web.Request) -> web.Response:
    return json_response(await services.complete_todo(request, request.match_info["id"]))

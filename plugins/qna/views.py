"""HTTP routes (drf style). Thin: validate, call a service, shape the response."""

from __future__ import annotations

from aiohttp import web

from core import ADMIN, USER, Routes, drf, permission
from core.jsonutil import json_response
from core.keys import BODY, IDENTITY, QUERY

from . import ASK, COACH, services
from .models import PENDING
from .schemas import (
    AnswerIn,
    AskIn,
    LockIn,
    PageQuery,
    PendingQuery,
    TagIn,
    order_out,
    pending_entry,
    question_out,
    tag_out,
)

routes = Routes(envelope="drf", rate="default")


@routes.post("/", access=permission(ASK), body=AskIn, summary="Ask a question")
async def ask(request: web.Request) -> web.Response:
    data = request[BODY]
    qna = await services.ask(request.app, request[IDENTITY].user_id, data["q1"], data["q2"], data["tags"])
    return json_response(question_out(qna), status=201)


@routes.get("/mine/", access=permission(ASK), query=PageQuery, summary="My questions, newest first")
async def mine(request: web.Request) -> web.Response:
    req = services.page_request(request.app, request[QUERY]["page"], request[QUERY]["page_size"])
    items, total = await services.my_questions(request.app, request[IDENTITY].user_id, req)
    return drf.page(request, [question_out(q) for q in items], page=req.page, page_size=req.size, total=total)


@routes.get("/tags/", access=USER, query=PageQuery, summary="List tags")
async def list_tags(request: web.Request) -> web.Response:
    req = services.page_request(request.app, request[QUERY]["page"], request[QUERY]["page_size"])
    tags, total = await services.list_tags(request.app, req)
    return drf.page(request, [tag_out(t) for t in tags], page=req.page, page_size=req.size, total=total)


@routes.post("/tags/", access=ADMIN, body=TagIn, summary="Create a tag")
async def create_tag(request: web.Request) -> web.Response:
    tag = await services.create_tag(request.app, request[BODY]["name"])
    return json_response(tag_out(tag), status=201)


@routes.get("/pending/", access=permission(COACH), query=PendingQuery, summary="Unanswered questions")
async def pending(request: web.Request) -> web.Response:
    query = request[QUERY]
    if query["alias"] is not None:
        entry = await services.pending_one(request.app, query["alias"])
        return json_response(pending_entry(entry.qna, entry.active_expiration))
    req = services.page_request(request.app, query["page"], query["page_size"])
    entries, total = await services.pending_page(request.app, req, query["tag"])
    results = [pending_entry(e.qna, e.active_expiration) for e in entries]
    return drf.page(request, results, page=req.page, page_size=req.size, total=total)


@routes.post("/lock/", access=permission(COACH), body=LockIn, summary="Take (PD) or cancel (CL) an order")
async def lock(request: web.Request) -> web.Response:
    data = request[BODY]
    coach_id = request[IDENTITY].user_id
    if data["status"] == PENDING:
        order, qna = await services.take_order(request.app, coach_id, data["qna"])
        return json_response(order_out(order, qna.alias), status=201)
    order, qna = await services.cancel_order(request.app, coach_id, data["qna"])
    return json_response(order_out(order, qna.alias), status=202)


@routes.post("/answer/", access=permission(COACH), body=AnswerIn, summary="Answer a question you hold")
async def answer(request: web.Request) -> web.Response:
    data = request[BODY]
    order, qna = await services.answer(
        request.app, request[IDENTITY].user_id, data["id"], data["answer"], data["suggestion"]
    )
    return json_response(order_out(order, qna.alias), status=202)

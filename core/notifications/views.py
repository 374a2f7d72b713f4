"""Notification routes (tutorhub style) and the outbox task registration.

Importing this module (the app does, as a core hook module) also imports the
notification models, so they are on the shared metadata for alembic and tests.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from marshmallow import EXCLUDE, Schema, fields, validate

from ..config import Settings
from ..envelopes import tutorhub
from ..errors import BadRequest
from ..hookspecs import hookimpl
from ..jsonutil import utc_iso
from ..keys import DB, IDENTITY, QUERY
from ..routing import USER, Routes
from ..tasks import TaskSpec
from . import outbox, services
from .models import Notification, OutboxEmail

routes = Routes(envelope="tutorhub")

MAX_PAGE_ROW_COUNT = 1000
MAX_PAGE_NUMBER = 10**9  # (page - 1) * pageRowCount must stay a valid 64-bit SQL OFFSET


class NotificationListQuery(Schema):
    """Tutorhub paging (`pageNumber` 0 = everything) and the unread filter; other
    common tutorhub parameters (`getJoins`, `requestId`...) are accepted and ignored."""

    class Meta:
        unknown = EXCLUDE

    pageNumber = fields.Integer(load_default=1, validate=validate.Range(min=0, max=MAX_PAGE_NUMBER))
    pageRowCount = fields.Integer(load_default=25, validate=validate.Range(min=1, max=MAX_PAGE_ROW_COUNT))
    unread = fields.Boolean(load_default=False)


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "userId": n.user_id,
        "type": n.type,
        "title": n.title,
        "body": n.body,
        "data": n.data if n.data is not None else {},
        "isRead": n.is_read,
        "createdAt": utc_iso(n.created_at),
    }


def _notification_id(request: web.Request) -> str:
    raw = request.match_info["id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise BadRequest(f"{raw!r} is not a valid notification id.", code="errMsg_notificationIdisNotAValidID") from None


# readall is declared before the {id} route. They cannot collide today ({id}/read has
# one more segment), but aiohttp resolves in declaration order, so keep it first.
@routes.patch("/v1/notifications/readall", access=USER, summary="Mark all your notifications read")
async def read_all(request: web.Request) -> web.Response:
    """Returns `readAll: {"count": <notifications changed>}`."""
    async with request.app[DB].transaction() as session:
        count = await services.mark_all_read(session, request[IDENTITY].user_id)
    return tutorhub.ok(request, "readAll", {"count": count}, action="update")


@routes.get("/v1/notifications", access=USER, query=NotificationListQuery, summary="List your notifications")
async def list_notifications(request: web.Request) -> web.Response:
    """Newest first; `?unread=true` lists only unread ones."""
    query = request[QUERY]
    page, size = query["pageNumber"], query["pageRowCount"]
    async with request.app[DB].session() as session:
        items, total = await services.list_for_user(
            session,
            request[IDENTITY].user_id,
            unread_only=query["unread"],
            offset=(page - 1) * size if page else 0,
            limit=size if page else None,
        )
    return tutorhub.page(
        request,
        "notifications",
        [notification_json(n) for n in items],
        page_number=page,
        page_row_count=size,
        total=total,
    )


@routes.patch("/v1/notifications/{id}/read", access=USER, summary="Mark one of your notifications read")
async def read_one(request: web.Request) -> web.Response:
    notification_id = _notification_id(request)
    async with request.app[DB].transaction() as session:
        notification = await services.mark_read(session, request[IDENTITY].user_id, notification_id)
    return tutorhub.ok(request, "notification", notification_json(notification), action="update")


@hookimpl
def register_routes() -> Routes:
    return routes


@hookimpl
def register_models() -> list[type]:
    return [Notification, OutboxEmail]


@hookimpl
def register_tasks(settings: Settings) -> list[TaskSpec]:
    return [TaskSpec("core.outbox", outbox.deliver_due, every=settings.email.outbox_interval)]

"""Realtime events, published through the core pub/sub after the change committed.

Channels: `messaging.room.<roomId>` (sockets that joined the room) and
`messaging.user.<userId>` (every socket of that user, joined on connect). With
Redis configured they reach every worker. An envelope says who on the channel
gets it (`audience`, `excludeUsers`, `excludeSocket`) and carries an `eid`, so a
socket that hears one event on two channels delivers it once.

Pub/sub is at-most-once: a publish that fails is logged and the change stays
committed; clients catch up with `GET /v1/chat-messages?conversationId=..&after=..`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Iterable, Sequence

from aiohttp import web

from core.jsonutil import utc_iso
from core.keys import DB, PUBSUB

from . import schemas
from .models import ChatMessage, ChatModeration, ChatReadState, Conversation

log = logging.getLogger("mentorkit.messaging")


def room_channel(room_id: str) -> str:
    return f"messaging.room.{room_id}"


def user_channel(user_id: str) -> str:
    return f"messaging.user.{user_id}"


def envelope(
    event: str,
    data: dict[str, Any],
    *,
    audience: str = "all",
    exclude_users: Iterable[str] = (),
    exclude_socket: str | None = None,
    leave: str | None = None,
    eid: str | None = None,
) -> dict[str, Any]:
    return {
        "eid": eid or uuid.uuid4().hex,
        "event": event,
        "data": data,
        "audience": audience,
        "excludeUsers": list(exclude_users),
        "excludeSocket": exclude_socket,
        "leave": leave,
    }


async def publish(app: web.Application, channel: str, message: dict[str, Any]) -> None:
    try:
        await app[PUBSUB].publish(channel, message)
    except Exception:  # the change is committed; a lost event is recovered by resync
        log.exception("publishing %s on %s failed", message.get("event"), channel)


async def message_new(app: web.Application, message: ChatMessage, *, exclude_socket: str | None = None) -> None:
    """To the room; the sending socket is left out (it got `message:ack` with the message)."""
    await publish(
        app, room_channel(message.room_id),
        envelope("message:new", {"message": schemas.message_out(message)}, exclude_socket=exclude_socket),
    )


async def message_updated(app: web.Application, message: ChatMessage) -> None:
    """M8. A message non-admins may not see (pending, rejected) reaches admins and its
    sender as `message:updated`; everyone else gets `message:deleted` instead."""
    channel = room_channel(message.room_id)
    payload = {"message": schemas.message_out(message)}
    if message.status == "approved":
        await publish(app, channel, envelope("message:updated", payload))
        return
    await publish(app, channel, envelope("message:updated", payload, audience="admins"))
    await publish(app, user_channel(message.sender_id), envelope("message:updated", payload))
    await publish(
        app, channel,
        envelope("message:deleted", {"id": message.id, "roomId": message.room_id}, audience="nonAdmins",
                 exclude_users=[message.sender_id]),
    )


async def message_deleted(app: web.Application, message: ChatMessage) -> None:
    await publish(app, room_channel(message.room_id), envelope("message:deleted", {"id": message.id, "roomId": message.room_id}))


async def typing(app: web.Application, room_id: str, user_id: str, is_typing: bool) -> None:
    await publish(
        app, room_channel(room_id),
        envelope("typing", {"roomId": room_id, "userId": user_id, "isTyping": is_typing}, exclude_users=[user_id]),
    )


async def message_read(app: web.Application, state: ChatReadState, conv: Conversation) -> None:
    """To the room except the reader, and to the other participant's user channel (same eid)."""
    data = {"roomId": conv.id, "userId": state.user_id, "messageId": state.last_read_message_id,
            "readAt": utc_iso(state.last_read_at)}
    env = envelope("message:read", data, exclude_users=[state.user_id])
    await publish(app, room_channel(conv.id), env)
    await publish(app, user_channel(conv.other(state.user_id)), env)


async def conversation_updated(app: web.Application, conv: Conversation) -> None:
    """To both participants' user channels, each with their own unread count."""
    from .services import unread_counts

    counts: dict[str, int] = {}
    async with app[DB].session() as session:
        for user_id in (conv.participant_a, conv.participant_b):
            counts[user_id] = (await unread_counts(session, user_id, [conv.id]))[conv.id]
    data = schemas.conversation_out(conv)
    for user_id, unread in counts.items():
        await publish(app, user_channel(user_id), envelope("conversation:updated", {"conversation": data, "unreadCount": unread}))


def _moderation_data(row: ChatModeration) -> dict[str, Any]:
    return {"roomId": row.room_id, "userId": row.user_id, "action": row.action, "expiresAt": utc_iso(row.expires_at)}


async def moderation_applied(app: web.Application, row: ChatModeration) -> None:
    """To the affected user and the room's admins; a blocked user's sockets leave the room."""
    eid = uuid.uuid4().hex
    data = _moderation_data(row)
    leave = row.room_id if row.action == "blocked" else None
    await publish(app, user_channel(row.user_id), envelope("moderation:applied", data, leave=leave, eid=eid))
    await publish(app, room_channel(row.room_id), envelope("moderation:applied", data, audience="admins", eid=eid))


async def moderation_lifted(app: web.Application, rows: Sequence[ChatModeration]) -> None:
    for row in rows:
        eid = uuid.uuid4().hex
        data = _moderation_data(row)
        await publish(app, user_channel(row.user_id), envelope("moderation:lifted", data, eid=eid))
        await publish(app, room_channel(row.room_id), envelope("moderation:lifted", data, audience="admins", eid=eid))

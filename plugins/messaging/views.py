"""REST routes (tutorhub envelope) and the WebSocket route; the rules live in services."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import USER, Routes, errors, roles, tutorhub
from core.keys import BODY, IDENTITY, QUERY

from . import events, schemas, services, ws
from .services import Actor

routes = Routes(envelope="tutorhub", rate="default")

MESSAGES = "/v1/chat-messages"
MESSAGE = "/v1/chat-messages/{id}"
SEED_MESSAGES = "/v1/v1/chat-messages"  # the seed's doubled prefix, kept as aliases
SEED_MESSAGE = "/v1/v1/chat-messages/{id}"


def _actor(request: web.Request) -> Actor:
    return Actor.of(request[IDENTITY])


def _with_joins(conv_out: dict[str, Any], enrollment: Any) -> dict[str, Any]:
    conv_out["enrollment"] = enrollment
    return conv_out


@routes.post("/v1/conversations", access=USER, body=schemas.ConversationIn, summary="createConversation")
async def create_conversation(request: web.Request) -> web.Response:
    """M1: open a conversation; an existing live one of the same type and pair is returned (200)."""
    conv, created = await services.create_conversation(request.app, _actor(request), request[BODY])
    if created:
        await events.conversation_updated(request.app, conv)
    return tutorhub.ok(request, "conversation", schemas.conversation_out(conv), action="create", status=201 if created else 200)


@routes.get("/v1/conversations/{conversationId}", access=USER, summary="getConversation")
async def get_conversation(request: web.Request) -> web.Response:
    """M2: participants and admins."""
    conv = await services.get_conversation(request.app, _actor(request), request.match_info["conversationId"])
    joins = await services.enrollment_joins(request.app, [conv])
    payload = _with_joins(schemas.conversation_out(conv), joins.get(conv.enrollment_id or ""))
    return tutorhub.ok(request, "conversation", payload, action="get")


@routes.get("/v1/myconversations", access=USER, query=schemas.MyConversationsQuery, summary="listMyConversations")
async def list_my_conversations(request: web.Request) -> web.Response:
    """M3: the caller's conversations, newest activity first, with unread counts."""
    paging = request[QUERY]
    page, unread = await services.list_my_conversations(
        request.app, _actor(request), request.query, paging["pageNumber"], paging["pageRowCount"]
    )
    joins = await services.enrollment_joins(request.app, page.items)
    items = []
    for conv in page.items:
        item = _with_joins(schemas.conversation_out(conv), joins.get(conv.enrollment_id or ""))
        item["unreadCount"] = unread.get(conv.id, 0)
        items.append(item)
    return tutorhub.page(request, "conversations", items, page_number=page.page_number,
                         page_row_count=page.page_row_count, total=page.total)


@routes.post(
    "/v1/sendsystemmessage",
    access=roles("admin", "superAdmin", api_token=True),
    body=schemas.SystemMessageIn,
    summary="sendSystemMessage (internal: admin API tokens only)",
)
async def send_system_message(request: web.Request) -> web.Response:
    """M4: machine callers only; browser sessions (admins' too) get 403."""
    identity = request[IDENTITY]
    if not identity.via_api_token:
        raise errors.Forbidden("This route is for internal callers with an API token.", code="errMsg_InternalCallersOnly")
    data = request[BODY]
    conv, _ = await services.send_system_message(
        request.app,
        target_user_id=data["targetUserId"],
        target_user_role=data["targetUserRole"],
        message_content=data["messageContent"],
        resolution_type=data.get("resolutionType"),
        complaint_id=data.get("complaintId"),
        severity=data["severity"],
        actor=identity,
    )
    return tutorhub.ok(request, "conversation", schemas.conversation_out(conv), action="create", status=201)


@routes.get(MESSAGES, access=USER, query=schemas.ChatMessagesQuery, aliases=(SEED_MESSAGES,), summary="listChatMessages")
async def list_chat_messages(request: web.Request) -> web.Response:
    """M5, plus resync: `?conversationId=..&after=<messageId>` lists that room's newer messages, oldest first."""
    paging = request[QUERY]
    page = await services.list_messages(request.app, _actor(request), request.query, paging["pageNumber"], paging["pageRowCount"])
    return tutorhub.page(request, "chatMessages", [schemas.message_out(m) for m in page.items],
                         page_number=page.page_number, page_row_count=page.page_row_count, total=page.total)


@routes.get(MESSAGE, access=USER, aliases=(SEED_MESSAGE,), summary="getChatMessage")
async def get_chat_message(request: web.Request) -> web.Response:
    """M6: room members and admins."""
    message = await services.get_message(request.app, _actor(request), request.match_info["id"])
    return tutorhub.ok(request, "chatMessage", schemas.message_out(message), action="get")


@routes.delete(MESSAGE, access=USER, aliases=(SEED_MESSAGE,), summary="deleteChatMessage")
async def delete_chat_message(request: web.Request) -> web.Response:
    """M7: soft delete by the sender or an admin."""
    message, conv = await services.delete_message(request.app, _actor(request), request.match_info["id"])
    await events.message_deleted(request.app, message)
    await events.conversation_updated(request.app, conv)
    return tutorhub.ok(request, "chatMessage", schemas.message_out(message), action="delete")


@routes.patch(MESSAGE, access=USER, aliases=(SEED_MESSAGE,), body=schemas.ChatMessageUpdateIn, summary="updateChatMessage")
async def update_chat_message(request: web.Request) -> web.Response:
    """M8: content by the sender or an admin; status by admins only."""
    message, conv, changed = await services.update_message(request.app, _actor(request), request.match_info["id"], request[BODY])
    if changed:
        await events.message_updated(request.app, message)
        await events.conversation_updated(request.app, conv)
    return tutorhub.ok(request, "chatMessage", schemas.message_out(message), action="update")


routes.websocket("/v1/chat/ws", access=USER, rate="default")(ws.chat_socket)

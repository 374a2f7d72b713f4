"""Wire shapes: request schemas (REST bodies, queries, content payloads) and the
camelCase objects every response and realtime event carries."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from core.errors import BadRequest, ValidationFailed
from core.jsonutil import utc_iso
from core.routing import summarize

from .models import (
    CONVERSATION_STATUSES,
    CONVERSATION_TYPES,
    MESSAGE_STATUSES,
    MESSAGE_TYPES,
    MODERATION_ACTIONS,
    ChatMessage,
    ChatModeration,
    ChatReadState,
    Conversation,
)

MAX_TEXT = 4000
PREVIEW_LENGTH = 100
SEVERITIES = ("info", "warning", "critical")
RESOLUTION_TYPES = ("warn", "requireEdit", "removeCourse", "suspend", "ban")
TARGET_ROLES = ("student", "tutor")


def check_id(value: Any, name: str) -> str:
    """A UUID id, or 400 `errMsg_<name>isNotAValidID` (the seeds' invalid-id message)."""
    if isinstance(value, str):
        try:
            uuid.UUID(value)
            return value
        except ValueError:
            pass
    raise BadRequest(f"{name} is not a valid ID.", code=f"errMsg_{name}isNotAValidID")


# --- content payloads, one shape per messageType -------------------------------------------------


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TextContent(_Strict):
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))


class ImageContent(_Strict):
    url = fields.Url(required=True, schemes={"http", "https"}, validate=validate.Length(max=1024))
    caption = fields.String(validate=validate.Length(max=1000), allow_none=True)
    width = fields.Integer(validate=validate.Range(min=1), allow_none=True)
    height = fields.Integer(validate=validate.Range(min=1), allow_none=True)


class DocumentContent(_Strict):
    url = fields.Url(required=True, schemes={"http", "https"}, validate=validate.Length(max=1024))
    fileName = fields.String(required=True, validate=validate.Length(min=1, max=255))
    mimeType = fields.String(validate=validate.Length(max=255), allow_none=True)
    size = fields.Integer(validate=validate.Range(min=0), allow_none=True)


class SystemContent(_Strict):
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    event = fields.String(validate=validate.Length(max=64), allow_none=True)


class WarningContent(_Strict):
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    resolutionType = fields.String(validate=validate.OneOf(RESOLUTION_TYPES), allow_none=True)
    complaintId = fields.String(validate=validate.Length(max=64), allow_none=True)


CONTENT_SCHEMAS: dict[str, Schema] = {
    "text": TextContent(),
    "image": ImageContent(),
    "document": DocumentContent(),
    "system": SystemContent(),
    "warning": WarningContent(),
}


def validate_content(message_type: str, content: Any) -> dict[str, Any]:
    """The payload checked against its messageType's shape (400 with per-field detail)."""
    if not isinstance(content, dict):
        raise ValidationFailed("content must be an object.", code="errMsg_contentIsNotValid", detail={"content": ["Must be an object."]})
    try:
        loaded = CONTENT_SCHEMAS[message_type].load(content)
    except ValidationError as exc:
        messages = {"content": exc.normalized_messages()}
        raise ValidationFailed(summarize(messages), code="errMsg_contentIsNotValid", detail=messages) from None
    return {k: v for k, v in loaded.items() if v is not None}


def preview_of(message_type: str, content: dict[str, Any]) -> str:
    if message_type == "image":
        return "[Image]"
    if message_type == "document":
        return "[Document]"
    return str(content.get("text", ""))[:PREVIEW_LENGTH]


# --- REST bodies and queries ---------------------------------------------------------------------


class ConversationIn(Schema):
    class Meta:
        unknown = RAISE

    conversationType = fields.String(required=True, validate=validate.OneOf(CONVERSATION_TYPES))
    participantA = fields.String(required=True)
    participantB = fields.String(required=True)
    enrollmentId = fields.String(validate=validate.Length(min=1, max=64), allow_none=True)
    # Server-owned fields the seed lists as create params: accepted and ignored.
    lastMessageAt = fields.Raw(allow_none=True)
    lastMessagePreview = fields.Raw(allow_none=True)
    participantAName = fields.Raw(allow_none=True)
    participantBName = fields.Raw(allow_none=True)
    courseTitle = fields.Raw(allow_none=True)


class SystemMessageIn(Schema):
    class Meta:
        unknown = RAISE

    targetUserId = fields.String(required=True)
    targetUserRole = fields.String(required=True, validate=validate.OneOf(TARGET_ROLES))
    messageContent = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    resolutionType = fields.String(validate=validate.OneOf(RESOLUTION_TYPES), allow_none=True)
    complaintId = fields.String(validate=validate.Length(min=1, max=64), allow_none=True)
    severity = fields.String(load_default="warning", validate=validate.OneOf(SEVERITIES))

    @validates_schema
    def _not_blank(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("messageContent", "").strip():
            raise ValidationError("Must not be blank.", "messageContent")


class ChatMessageUpdateIn(Schema):
    """M8: only `content` and `status`; messageType, roomId, senderId, replyTo are fixed."""

    class Meta:
        unknown = RAISE

    content = fields.Dict()
    status = fields.String(validate=validate.OneOf(MESSAGE_STATUSES))

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Give content or status to change.")


class PagingQuery(Schema):
    """The common query parameters; unknown ones (getJoins, caching, filters...) pass through."""

    class Meta:
        unknown = EXCLUDE

    pageNumber = fields.Integer(load_default=1, validate=validate.Range(min=0))
    pageRowCount = fields.Integer(load_default=25, validate=validate.Range(min=1))


class MyConversationsQuery(PagingQuery):
    conversationType = fields.String(metadata={"description": "filter; repeat for OR"})
    status = fields.String(metadata={"description": "filter; repeat for OR"})


class ChatMessagesQuery(PagingQuery):
    roomId = fields.String(metadata={"description": "ID filter; repeat for OR"})
    conversationId = fields.String(metadata={"description": "alias of roomId"})
    after = fields.String(metadata={"description": "message id: only newer messages of that room, oldest first"})
    senderId = fields.String()
    senderName = fields.String()
    senderAvatar = fields.String()
    messageType = fields.String()
    content = fields.String(metadata={"description": "JSON object, exact match"})
    timestamp = fields.String(metadata={"description": "ISO prefix, e.g. 2026-03-01"})
    status = fields.String()
    replyTo = fields.String(metadata={"description": "JSON object, exact match"})


# --- realtime frames (client -> server) ----------------------------------------------------------


class RoomFrame(Schema):
    class Meta:
        unknown = EXCLUDE

    roomId = fields.String(required=True)


class ReplyToIn(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True)


class SendFrame(RoomFrame):
    messageType = fields.String(load_default="text", validate=validate.OneOf(MESSAGE_TYPES))
    content = fields.Raw(required=True)
    replyTo = fields.Nested(ReplyToIn, allow_none=True)
    clientMsgId = fields.String(validate=validate.Length(min=1, max=64), allow_none=True)


class ReadFrame(RoomFrame):
    messageId = fields.String(required=True)


class ModerationApplyFrame(RoomFrame):
    userId = fields.String(required=True)
    action = fields.String(required=True, validate=validate.OneOf(MODERATION_ACTIONS))
    reason = fields.String(allow_none=True, validate=validate.Length(max=4000))
    duration = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10 * 365 * 86400))


class ModerationLiftFrame(RoomFrame):
    userId = fields.String(required=True)


def load_frame(schema: Schema, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed("data must be an object.", code="errMsg_InvalidFrame")
    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        raise ValidationFailed(summarize(messages), code="errMsg_InvalidFrame", detail=messages) from None


# --- responses -----------------------------------------------------------------------------------


def _idx(values: tuple[str, ...], value: str | None) -> int | None:
    return values.index(value) if value in values else None


def conversation_out(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "conversationType": conv.conversation_type,
        "conversationType_idx": _idx(CONVERSATION_TYPES, conv.conversation_type),
        "participantA": conv.participant_a,
        "participantB": conv.participant_b,
        "enrollmentId": conv.enrollment_id,
        "lastMessageAt": utc_iso(conv.last_message_at),
        "lastMessagePreview": conv.last_message_preview,
        "status": conv.status,
        "status_idx": _idx(CONVERSATION_STATUSES, conv.status),
        "participantAName": conv.participant_a_name,
        "participantBName": conv.participant_b_name,
        "courseTitle": conv.course_title,
        "isActive": conv.is_active,
        "recordVersion": conv.record_version,
        "createdAt": utc_iso(conv.created_at),
        "updatedAt": utc_iso(conv.updated_at),
        "_owner": conv.created_by,
    }


def message_out(msg: ChatMessage) -> dict[str, Any]:
    return {
        "id": msg.id,
        "roomId": msg.room_id,
        "senderId": msg.sender_id,
        "senderName": msg.sender_name,
        "senderAvatar": msg.sender_avatar,
        "messageType": msg.message_type,
        "messageType_idx": _idx(MESSAGE_TYPES, msg.message_type),
        "content": msg.content,
        "timestamp": utc_iso(msg.timestamp),
        "status": msg.status,
        "status_idx": _idx(MESSAGE_STATUSES, msg.status),
        "replyTo": msg.reply_to,
        "isActive": msg.is_active,
        "recordVersion": msg.record_version,
        "createdAt": utc_iso(msg.created_at),
        "updatedAt": utc_iso(msg.updated_at),
        "_owner": msg.sender_id,
    }


def moderation_out(row: ChatModeration) -> dict[str, Any]:
    return {
        "id": row.id,
        "roomId": row.room_id,
        "userId": row.user_id,
        "action": row.action,
        "action_idx": _idx(MODERATION_ACTIONS, row.action),
        "reason": row.reason,
        "duration": row.duration,
        "expiresAt": utc_iso(row.expires_at),
        "issuedBy": row.issued_by,
        "isActive": row.is_active,
        "recordVersion": row.record_version,
        "createdAt": utc_iso(row.created_at),
        "updatedAt": utc_iso(row.updated_at),
        "_owner": row.issued_by,
    }


def read_state_out(row: ChatReadState) -> dict[str, Any]:
    return {"userId": row.user_id, "lastReadMessageId": row.last_read_message_id, "lastReadAt": utc_iso(row.last_read_at)}

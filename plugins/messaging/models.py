"""Messaging tables: conversations (rooms), chat messages, room moderation, read states.

Ordering inside a room comes from `ChatMessage.seq`, a per-room counter taken from
`Conversation.message_seq` by the same UPDATE that locks the conversation row, so
within one room `seq` order is commit order. That is what makes `after=<messageId>`
resync exact: no message can commit "behind" one a client has already seen.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, TypeDecorator, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.auth.models import new_id
from core.db import Base, UTCDateTime, utcnow

CONVERSATION_TYPES = ("studentTutor", "adminStudent", "adminTutor")
CONVERSATION_STATUSES = ("active", "closed")
MESSAGE_TYPES = ("text", "image", "document", "system", "warning")
MESSAGE_STATUSES = ("pending", "approved", "rejected")
MODERATION_ACTIONS = ("blocked", "silenced")


class CanonicalJSON(TypeDecorator[Any]):
    """JSON stored as text with sorted keys on both backends.

    One canonical spelling per value lets the list filters (`?content=`, `?replyTo=`)
    compare objects with plain, portable text equality.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else canonical_json(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else orjson.loads(value)


def canonical_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class Conversation(Base):
    """A room between exactly two users; its id is every message's `roomId`."""

    __tablename__ = "messaging_conversations"
    __table_args__ = (
        # One live conversation per (type, A, B): the duplicate rule of M1, held by the database.
        Index(
            "uq_messaging_conversations_pair",
            "conversation_type",
            "participant_a",
            "participant_b",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
        Index("ix_messaging_conversations_a_last", "participant_a", "last_message_at"),
        Index("ix_messaging_conversations_b_last", "participant_b", "last_message_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_type: Mapped[str] = mapped_column(String(16))
    participant_a: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    participant_b: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    enrollment_id: Mapped[str | None] = mapped_column(String(64))
    last_message_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_message_preview: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")
    participant_a_name: Mapped[str | None] = mapped_column(String(255))
    participant_b_name: Mapped[str | None] = mapped_column(String(255))
    course_title: Mapped[str | None] = mapped_column(String(255))
    message_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str | None] = mapped_column(String(36))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    record_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def has_participant(self, user_id: str) -> bool:
        return user_id in (self.participant_a, self.participant_b)

    def other(self, user_id: str) -> str:
        return self.participant_b if user_id == self.participant_a else self.participant_a


class ChatMessage(Base):
    __tablename__ = "messaging_chat_messages"
    __table_args__ = (
        UniqueConstraint("room_id", "seq"),
        # A client retrying a send with the same clientMsgId gets the stored message back.
        Index(
            "uq_messaging_chat_messages_client_msg",
            "room_id",
            "sender_id",
            "client_msg_id",
            unique=True,
            postgresql_where=text("client_msg_id IS NOT NULL"),
            sqlite_where=text("client_msg_id IS NOT NULL"),
        ),
        Index("ix_messaging_chat_messages_room_ts", "room_id", "timestamp"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("messaging_conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sender_name: Mapped[str | None] = mapped_column(String(255))
    sender_avatar: Mapped[str | None] = mapped_column(String(1024))
    message_type: Mapped[str] = mapped_column(String(16), default="text")
    content: Mapped[Any] = mapped_column(CanonicalJSON)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="approved")
    reply_to: Mapped[Any | None] = mapped_column(CanonicalJSON)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    record_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatModeration(Base):
    """A block or silence of one user in one room; in force while active and unexpired."""

    __tablename__ = "messaging_chat_moderations"
    __table_args__ = (Index("ix_messaging_chat_moderations_room_user", "room_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("messaging_conversations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    record_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatReadState(Base):
    """How far one user has read in one room; only ever moves forward."""

    __tablename__ = "messaging_chat_read_states"
    __table_args__ = (UniqueConstraint("room_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("messaging_conversations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    last_read_message_id: Mapped[str] = mapped_column(String(36))
    last_read_seq: Mapped[int] = mapped_column(Integer)
    last_read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

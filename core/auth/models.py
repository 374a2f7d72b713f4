"""Identity tables: users, server-side sessions, API tokens, and a small key-value store."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow

ROLES = ("superAdmin", "admin", "tutor", "student")
ADMIN_ROLES = frozenset({"superAdmin", "admin"})
ACCOUNT_STATUSES = ("active", "suspended", "banned")
TUTOR_APPLICATION_STATUSES = ("none", "pending", "approved", "rejected")


def new_id() -> str:
    return str(uuid.uuid4())


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    fullname: Mapped[str] = mapped_column(String(255))
    avatar: Mapped[str | None] = mapped_column(String(1024))
    role_id: Mapped[str] = mapped_column(String(32), default="student", index=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    tutor_application_status: Mapped[str] = mapped_column(String(16), default="none")
    certifications: Mapped[str | None] = mapped_column(Text)
    qualifications: Mapped[str | None] = mapped_column(Text)
    bio: Mapped[str | None] = mapped_column(Text)
    specializations: Mapped[str | None] = mapped_column(Text)
    application_review_note: Mapped[str | None] = mapped_column(Text)
    application_documents: Mapped[str | None] = mapped_column(Text)
    account_status: Mapped[str] = mapped_column(String(16), default="active")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    record_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role_id in ADMIN_ROLES

    @property
    def can_log_in(self) -> bool:
        return self.is_active and self.account_status == "active"


class AuthSession(Base):
    """A login. Tokens name their session, so revoking the row revokes the token."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class ApiToken(Base):
    """A machine credential. Only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class KeyValue(Base):
    """Deployment-wide values the server generates once (e.g. the embedded JWT secret)."""

    __tablename__ = "core_kv"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)



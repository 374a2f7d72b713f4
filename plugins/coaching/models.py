"""Coaching tables.

Ids are strings (32 hex digits, so they sort the same in every collation and the
export's `date, _id` order is stable across backends). Nothing is ever hard
deleted: `is_deleted` keeps exports complete. User ids are stored without a
foreign key, next to a snapshot of the name, because a coaching record is a
historical document that must survive (and not block) changes to user accounts;
the services check that a named user exists when the record is written.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

POINT_TYPES = ("strength", "opportunity", "n/a")
CLASSIFICATIONS = ("general", "qa", "csat", "productivity")
TODO_STATUSES = ("open", "completed")


def new_id() -> str:
    return uuid.uuid4().hex


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CoachingSession(Base):
    """A coaching form: one meeting between a coach and an agent."""

    __tablename__ = "coaching_sessions"
    __table_args__ = (
        Index("ix_coaching_sessions_meeting_date_id", "meeting_date", "id"),
        Index("ix_coaching_sessions_created_at_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    coaching_form_name: Mapped[str] = mapped_column(String(255), default="")
    coaching_template_id: Mapped[str] = mapped_column(String(64), default="")
    coaching_template_name: Mapped[str] = mapped_column(String(255), default="")
    meeting_format: Mapped[str] = mapped_column(String(64), default="")
    form_creator_id: Mapped[str] = mapped_column(String(36))
    form_creator_name: Mapped[str] = mapped_column(String(255))
    coach_id: Mapped[str] = mapped_column(String(36), index=True)
    coach_name: Mapped[str] = mapped_column(String(255))
    agent_id: Mapped[str] = mapped_column(String(36), index=True)
    agent_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    shared_with_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    meeting_date: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    agent_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    coach_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    coach_notes: Mapped[str] = mapped_column(Text, default="")
    agent_notes: Mapped[str] = mapped_column(Text, default="")
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class ActivityLogEntry(Base):
    """Append-only: the services insert rows and never update or delete them."""

    __tablename__ = "coaching_activity_log"
    __table_args__ = (Index("ix_coaching_activity_log_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("coaching_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(36))
    user_email: Mapped[str] = mapped_column(String(320))
    action_type: Mapped[str] = mapped_column(String(32))
    descriptions: Mapped[list[str]] = mapped_column(JSON)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(64))


class CoachingPoint(Base):
    """A strength or opportunity, tied to a ticket, rubric or KPI; may belong to several sessions."""

    __tablename__ = "coaching_points"
    __table_args__ = (
        CheckConstraint(_one_of("type", POINT_TYPES), name="type"),
        CheckConstraint(_one_of("classification", CLASSIFICATIONS), name="classification"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(16), default="n/a")
    classification: Mapped[str] = mapped_column(String(16), default="general")
    ticket_id: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(String(1024), default="")
    rubric_name: Mapped[str] = mapped_column(String(255), default="")
    criteria_name: Mapped[str] = mapped_column(String(255), default="")
    kpi_name: Mapped[str] = mapped_column(String(255), default="")
    score: Mapped[str] = mapped_column(String(64), default="")
    agent_notes: Mapped[str] = mapped_column(Text, default="")
    coach_notes: Mapped[str] = mapped_column(Text, default="")
    creator_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class CoachingPointSession(Base):
    """Point <-> session (`coachingFormIds`), in the order the client gave them."""

    __tablename__ = "coaching_point_sessions"

    point_id: Mapped[str] = mapped_column(ForeignKey("coaching_points.id", ondelete="CASCADE"), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("coaching_sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class Todo(Base):
    """An action item agreed in a session; may belong to several sessions."""

    __tablename__ = "coaching_todos"
    __table_args__ = (CheckConstraint(_one_of("status", TODO_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    action_string: Mapped[str] = mapped_column(String(255), default="")
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    creator_id: Mapped[str] = mapped_column(String(36))
    creator_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(2048), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    title: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class TodoSession(Base):
    """Todo <-> session (`coachingFormIds`), in the order the client gave them."""

    __tablename__ = "coaching_todo_sessions"

    todo_id: Mapped[str] = mapped_column(ForeignKey("coaching_todos.id", ondelete="CASCADE"), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("coaching_sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


MODELS = [CoachingSession, ActivityLogEntry, CoachingPoint, CoachingPointSession, Todo, TodoSession]

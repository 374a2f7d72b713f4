"""QnA tables: tags, questions (with their many-to-many tags) and coaches' orders.

The rules that concurrency could break live in the database: one pending order
per question is a partial unique index (`uq_qna_orders_one_pending`), statuses
and cancel reasons are check constraints.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

PENDING, CANCELLED, COMPLETED = "PD", "CL", "CP"
BY_COACH, BY_EXPIRY = "coach", "expired"

qna_tags = Table(
    "qna_question_tags",
    Base.metadata,
    Column("qna_id", ForeignKey("qna_questions.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("qna_tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(Base):
    __tablename__ = "qna_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    alias: Mapped[str] = mapped_column(String(100), unique=True)


class QNA(Base):
    """A question. `alias` is the public, url-safe handle coaches use."""

    __tablename__ = "qna_questions"
    __table_args__ = (
        # The pending list: unanswered, newest first.
        Index(
            "ix_qna_questions_unanswered",
            "created_at",
            "id",
            postgresql_where=text("answered_at IS NULL"),
            sqlite_where=text("answered_at IS NULL"),
        ),
        Index("ix_qna_questions_user_created", "user_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(32), unique=True)
    q1: Mapped[str] = mapped_column("q1", Text)
    q2: Mapped[str | None] = mapped_column("q2", Text)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text)
    suggestion: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    # Never loaded implicitly: lists load the tags of a whole page in one query.
    tags: Mapped[list[Tag]] = relationship(secondary=qna_tags, lazy="raise", order_by=Tag.name)


class QNAOrder(Base):
    """A coach's claim on a question: pending for `order_hours`, then cancelled or completed."""

    __tablename__ = "qna_orders"
    __table_args__ = (
        CheckConstraint("status IN ('PD', 'CL', 'CP')", name="status"),
        CheckConstraint("cancel_reason IS NULL OR cancel_reason IN ('coach', 'expired')", name="cancel_reason"),
        # Backstop for the take's row locks: never two pending orders on one question.
        Index(
            "uq_qna_orders_one_pending",
            "qna_id",
            unique=True,
            postgresql_where=text("status = 'PD'"),
            sqlite_where=text("status = 'PD'"),
        ),
        Index("ix_qna_orders_qna_coach", "qna_id", "coach_id"),
        Index("ix_qna_orders_coach_status", "coach_id", "status", "expiration"),
        # The expiry sweep reads only pending orders.
        Index(
            "ix_qna_orders_pending_expiration",
            "expiration",
            postgresql_where=text("status = 'PD'"),
            sqlite_where=text("status = 'PD'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    qna_id: Mapped[int] = mapped_column(ForeignKey("qna_questions.id", ondelete="CASCADE"))
    coach_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(2), default=PENDING)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expiration: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(16))

    def is_active(self, now: dt.datetime) -> bool:
        """Pending and not expired: an expired order counts as cancelled, swept or not."""
        return self.status == PENDING and self.expiration > now

    def effective_status(self, now: dt.datetime) -> str:
        return CANCELLED if self.status == PENDING and self.expiration <= now else self.status

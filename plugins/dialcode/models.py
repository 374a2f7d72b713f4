"""DIAL code tables.

Integrity lives in the schema, not only in the services:
- a code is issued once: `dialcode_codes.identifier` is the primary key and
  `dialcode_index` is unique;
- a code is reserved on at most one textbook (`dialcode_reservations.dialcode`
  is the primary key) at one position of its map (unique `(content_id, reserved_index)`);
- only a reserved code can be linked: `dialcode_links.dialcode` references the
  reservation (release never drops a used one: it locks the textbook first).
Deletes cascade (there is no delete endpoint; it keeps manual clean-up simple).

`Content.root_id` is the top of the node's tree (itself for a root). A parent is
fixed at creation, so the root never changes, and "the textbook a node belongs
to" and "every node of a textbook" are single indexed lookups.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

TEXTBOOK = "TextBook"
TEXTBOOK_UNIT = "TextBookUnit"
CONTENT_TYPES = ("TextBook", "TextBookUnit", "Collection", "LessonPlan", "Course", "CourseUnit", "LessonPlanUnit", "Resource")
# Types that may hold children; a Resource is a leaf.
CONTAINER_TYPES = frozenset(t for t in CONTENT_TYPES if t != "Resource")
RELEASABLE_TYPES = frozenset({"TextBook", "Collection", "LessonPlan", "Course"})

DRAFT, LIVE, RETIRED = "Draft", "Live", "Retired"
CONTENT_STATUSES = (DRAFT, LIVE, RETIRED)

COUNTER_NAME = "dialcode_index"


class Publisher(Base):
    __tablename__ = "dialcode_publishers"

    identifier: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(100), index=True)
    created_on: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_on: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Content(Base):
    """A textbook or a node of its tree."""

    __tablename__ = "dialcode_contents"

    identifier: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("dialcode_contents.identifier", ondelete="CASCADE"), index=True
    )
    root_id: Mapped[str] = mapped_column(ForeignKey("dialcode_contents.identifier", ondelete="CASCADE"), index=True)
    # versionKey: epoch milliseconds of the last change, strictly increasing per row.
    version: Mapped[int] = mapped_column(BigInteger)
    created_on: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_updated_on: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DialCode(Base):
    __tablename__ = "dialcode_codes"

    identifier: Mapped[str] = mapped_column(String(6), primary_key=True)
    dialcode_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    channel: Mapped[str] = mapped_column(String(100), index=True)
    publisher: Mapped[str] = mapped_column(ForeignKey("dialcode_publishers.identifier", ondelete="CASCADE"), index=True)
    batchcode: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    generated_on: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Reservation(Base):
    """One entry of a textbook's `reservedDialcodes` map: code -> index."""

    __tablename__ = "dialcode_reservations"
    __table_args__ = (UniqueConstraint("content_id", "reserved_index"),)

    dialcode: Mapped[str] = mapped_column(ForeignKey("dialcode_codes.identifier", ondelete="CASCADE"), primary_key=True)
    content_id: Mapped[str] = mapped_column(ForeignKey("dialcode_contents.identifier", ondelete="CASCADE"))
    reserved_index: Mapped[int] = mapped_column(Integer)


class Link(Base):
    """A code linked to a node (`dialcodes` of that node, in `position` order)."""

    __tablename__ = "dialcode_links"

    content_id: Mapped[str] = mapped_column(
        ForeignKey("dialcode_contents.identifier", ondelete="CASCADE"), primary_key=True
    )
    dialcode: Mapped[str] = mapped_column(
        ForeignKey("dialcode_reservations.dialcode", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class Counter(Base):
    """The global generator index: only grows, handed out under a row lock."""

    __tablename__ = "dialcode_counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)

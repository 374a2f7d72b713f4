"""The QnA rules: asking, the pending list, taking / cancelling / answering orders.

Every write is one `Database.transaction()`. Invariants that racing requests
could break are held by the database, not by Python:

- taking an order locks the question row (`SELECT ... FOR UPDATE`) and the coach
  (a transaction-scoped advisory lock) on PostgreSQL before checking anything, so
  "one live order per question" and "at most N live orders per coach" are checked
  and written atomically; the partial unique index `uq_qna_orders_one_pending`
  is the backstop. On SQLite the transaction starts with `BEGIN IMMEDIATE`,
  which serializes writers outright.
- an expired pending order counts as cancelled everywhere at once: every query
  compares `expiration` with `app[CLOCK].now()`, and the sweep only makes the
  stored status catch up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

from aiohttp import web
from sqlalchemy import ColumnElement, Select, bindparam, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.config import Section
from core.errors import BadRequest, Forbidden, NotFound
from core.keys import CLOCK, DB, PLUGIN_MANAGER, SETTINGS
from core.notifications.services import notify
from core.plugins import call_async

from .models import BY_COACH, BY_EXPIRY, CANCELLED, COMPLETED, PENDING, QNA, QNAOrder, Tag, qna_tags

ALIAS_BYTES = 9  # 12 url-safe characters, 72 random bits
_ADVISORY_NAMESPACE = 0x514E4131  # "QNA1": keeps our advisory keys apart from other users'


def config(app: web.Application) -> Section:
    return app[SETTINGS].section("qna")


# --- pagination -------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def page_request(app: web.Application, page: int, page_size: int | None) -> PageRequest:
    """The configured default page size when none is asked for; never more than the maximum."""
    cfg = config(app)
    size = cfg.page_size if page_size is None else min(page_size, cfg.max_page_size)
    return PageRequest(page, size)


def check_page_exists(req: PageRequest, total: int) -> None:
    """Page 1 always exists (possibly empty); a page past the last is a 404, as in DRF."""
    if req.page > 1 and req.offset >= total:
        raise NotFound("Invalid page.", code="invalid_page")


async def _paged(session: AsyncSession, query: Select, req: PageRequest, *order_by: Any) -> tuple[list[Any], int]:
    total = (await session.execute(select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
    check_page_exists(req, total)
    if total == 0:
        return [], 0
    rows = (await session.scalars(query.order_by(*order_by).offset(req.offset).limit(req.size))).all()
    return list(rows), total


# --- tags -------------------------------------------------------------------


_SPOKEN = {"+": " plus ", "#": " sharp ", "&": " and "}  # so "C++", "C#" and "C" stay apart


def slugify(name: str) -> str:
    """`Python 3` -> `python-3`, `C++` -> `c-plus-plus`, `Écoles` -> `ecoles`."""
    spoken = "".join(_SPOKEN.get(ch, ch) for ch in name)
    ascii_name = unicodedata.normalize("NFKD", spoken).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80].rstrip("-")


async def create_tag(app: web.Application, name: str) -> Tag:
    name = name.strip()
    alias = slugify(name) or "tag-" + secrets.token_hex(4)
    try:
        async with app[DB].transaction() as session:
            if await session.scalar(select(Tag.id).where(Tag.alias == alias)) is not None:
                raise BadRequest(f"A tag with alias {alias!r} already exists.", code="tag_exists")
            tag = Tag(name=name, alias=alias)
            session.add(tag)
    except IntegrityError:  # lost a race with an identical tag on PostgreSQL
        raise BadRequest(f"A tag with alias {alias!r} already exists.", code="tag_exists") from None
    return tag


async def list_tags(app: web.Application, req: PageRequest) -> tuple[list[Tag], int]:
    async with app[DB].read() as session:
        return await _paged(session, select(Tag), req, Tag.name, Tag.id)


async def _load_tags(session: AsyncSession, questions: Sequence[QNA]) -> None:
    """Attach the tags of every given question with one query (no per-row loading)."""
    by_id: dict[int, list[Tag]] = {q.id: [] for q in questions}
    if by_id:
        rows = await session.execute(
            select(qna_tags.c.qna_id, Tag)
            .join(Tag, Tag.id == qna_tags.c.tag_id)
            .where(qna_tags.c.qna_id.in_(by_id))
            .order_by(Tag.name, Tag.id)
        )
        for qna_id, tag in rows:
            by_id[qna_id].append(tag)
    for question in questions:
        set_committed_value(question, "tags", by_id[question.id])


# --- the asker's side ---------------------------------------------------------


async def ask(app: web.Application, user_id: str, q1: str, q2: str | None, tag_aliases: list[str]) -> QNA:
    wanted = list(dict.fromkeys(tag_aliases))
    async with app[DB].transaction() as session:
        tags = list((await session.scalars(select(Tag).where(Tag.alias.in_(wanted)))).all()) if wanted else []
        unknown = sorted(set(wanted) - {t.alias for t in tags})
        if unknown:
            raise BadRequest(
                "Unknown tag alias: " + ", ".join(unknown) + ".",
                code="unknown_tag",
                detail={"tags": [f"Unknown tag alias: {a}." for a in unknown]},
            )
        qna = QNA(q1=q1, q2=q2, user_id=user_id, created_at=app[CLOCK].now(), tags=sorted(tags, key=_tag_key))
        await _insert_with_unique_alias(session, qna)
    return qna


def _tag_key(tag: Tag) -> tuple[str, int]:
    return tag.name, tag.id


async def _insert_with_unique_alias(session: AsyncSession, qna: QNA, attempts: int = 5) -> None:
    """Random aliases collide with negligible probability; a savepoint makes a retry safe anyway."""
    for attempt in range(attempts):
        qna.alias = secrets.token_urlsafe(ALIAS_BYTES)
        try:
            async with session.begin_nested():
                session.add(qna)
                await session.flush()
            return
        except IntegrityError:
            if attempt == attempts - 1:
                raise


async def my_questions(app: web.Application, user_id: str, req: PageRequest) -> tuple[list[QNA], int]:
    async with app[DB].read() as session:
        query = select(QNA).where(QNA.user_id == user_id)
        items, total = await _paged(session, query, req, QNA.created_at.desc(), QNA.id.desc())
        await _load_tags(session, items)
    return items, total


# --- the coach's view -----------------------------------------------------------


@dataclass(frozen=True)
class QuestionView:
    """A question as the pending list shows it. Read with Core rows, not ORM objects:
    this is the coaches' hot path and the identity map buys nothing here."""

    id: int
    alias: str
    q1: str
    q2: str | None
    created_at: dt.datetime
    tags: list[Any]  # rows with id, name, alias


@dataclass(frozen=True)
class PendingEntry:
    qna: QuestionView
    active_expiration: dt.datetime | None


_UNANSWERED = QNA.answered_at.is_(None)
_COLUMNS = (QNA.id, QNA.alias, QNA.q1, QNA.q2, QNA.created_at)


def _live(now: Any) -> ColumnElement[bool]:
    """Pending and not yet expired."""
    return (QNAOrder.status == PENDING) & (QNAOrder.expiration > now)


def _live_expiration(qna_id: ColumnElement[int]) -> Any:
    """The live order's expiry as a column: at most one pending order per question
    exists (uq_qna_orders_one_pending), and an expired one does not count."""
    return (
        select(QNAOrder.expiration)
        .where(QNAOrder.qna_id == qna_id, _live(bindparam("now")))
        .scalar_subquery()
        .label("live_expiration")
    )


def _page_query(*where: ColumnElement[bool]) -> Select:
    """One page and, for its rows only, the live order (the lookup runs page-size times)."""
    page = (
        select(*_COLUMNS)
        .where(_UNANSWERED, *where)
        .order_by(QNA.created_at.desc(), QNA.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
        .subquery()
    )
    return select(page, _live_expiration(page.c.id)).order_by(page.c.created_at.desc(), page.c.id.desc())


# Built once: constructing SQL expressions costs more CPU than running these queries.
# A page costs three queries: the count (an index-only scan), the page with its live
# orders, and the page's tags. (A window count would make PostgreSQL read every row.)
_PAGE_PENDING = _page_query()
_COUNT_PENDING = select(func.count()).select_from(QNA).where(_UNANSWERED)
_TAGS_OF = (
    select(qna_tags.c.qna_id, Tag.id, Tag.name, Tag.alias)
    .join(Tag, Tag.id == qna_tags.c.tag_id)
    .where(qna_tags.c.qna_id.in_(bindparam("ids", expanding=True)))
    .order_by(Tag.name, Tag.id)
)


async def _entries(conn: AsyncConnection, rows: Sequence[Any]) -> list[PendingEntry]:
    """Attach the tags of a whole page with one query, whatever the page size."""
    tags: dict[int, list[Any]] = {row.id: [] for row in rows}
    if tags:
        for tag in await conn.execute(_TAGS_OF, {"ids": list(tags)}):
            tags[tag.qna_id].append(tag)
    return [
        PendingEntry(QuestionView(r.id, r.alias, r.q1, r.q2, r.created_at, tags[r.id]), r.live_expiration)
        for r in rows
    ]


async def pending_page(app: web.Application, req: PageRequest, tag: str | None) -> tuple[list[PendingEntry], int]:
    params = {"now": app[CLOCK].now(), "offset": req.offset, "limit": req.size}
    page, count = _PAGE_PENDING, _COUNT_PENDING
    if tag is not None:
        tagged = exists().where(
            qna_tags.c.qna_id == QNA.id,
            qna_tags.c.tag_id == select(Tag.id).where(Tag.alias == tag).scalar_subquery(),
        )
        page, count = _page_query(tagged), count.where(tagged)
    async with app[DB].read_connection() as conn:
        total = (await conn.execute(count)).scalar_one()
        check_page_exists(req, total)
        if total == 0:
            return [], 0
        rows = (await conn.execute(page, params)).all()
        return await _entries(conn, rows), total


async def pending_one(app: web.Application, alias: str) -> PendingEntry:
    async with app[DB].read_connection() as conn:
        query = select(*_COLUMNS, _live_expiration(QNA.id)).where(QNA.alias == alias, _UNANSWERED)
        row = (await conn.execute(query, {"now": app[CLOCK].now()})).first()
        if row is None:
            raise NotFound("No unanswered question with this alias.", code="not_found")
        return (await _entries(conn, [row]))[0]


# --- orders -------------------------------------------------------------------


async def _lock_question(session: AsyncSession, where: ColumnElement[bool]) -> QNA:
    qna = await session.scalar(select(QNA).where(where).with_for_update())
    if qna is None:
        raise NotFound("Question not found.", code="not_found")
    return qna


def _advisory_key(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=4).digest(), "big", signed=True)


async def _lock_coach(session: AsyncSession, coach_id: str) -> None:
    """Serialize one coach's takes on PostgreSQL (they lock different questions).

    Released at commit or rollback. SQLite needs nothing: BEGIN IMMEDIATE already
    serializes every writer.
    """
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_ADVISORY_NAMESPACE, _advisory_key(coach_id))))


def _check_can_take(qna: QNA, orders: Sequence[QNAOrder], coach_id: str, now: dt.datetime) -> None:
    """The contract's rejections 1-4, in its order (5 needs a count, see take_order)."""
    if qna.answered_at is not None:
        raise Forbidden("This question has already been answered.", code="qna_answered")
    live = [o for o in orders if o.is_active(now)]
    if any(o.coach_id != coach_id for o in live):
        raise Forbidden("Another coach holds a pending order on this question.", code="order_taken")
    if live:
        raise Forbidden("You already hold the pending order on this question.", code="already_holding")
    if any(o.coach_id == coach_id and o.effective_status(now) == CANCELLED for o in orders):
        raise Forbidden("You cancelled an order on this question before.", code="cancelled_before")


async def _mark_expired(session: AsyncSession, now: dt.datetime, *where: ColumnElement[bool]) -> int:
    """Store CL/expired on pending orders past their expiration; closed at the moment they expired."""
    result = await session.execute(
        update(QNAOrder)
        .where(QNAOrder.status == PENDING, QNAOrder.expiration <= now, *where)
        .values(status=CANCELLED, cancel_reason=BY_EXPIRY, closed_at=QNAOrder.expiration)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def take_order(app: web.Application, coach_id: str, alias: str) -> tuple[QNAOrder, QNA]:
    cfg = config(app)
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        qna = await _lock_question(session, QNA.alias == alias)
        await _lock_coach(session, coach_id)
        orders = (await session.scalars(select(QNAOrder).where(QNAOrder.qna_id == qna.id))).all()
        _check_can_take(qna, orders, coach_id, now)
        held = await session.scalar(select(func.count()).where(QNAOrder.coach_id == coach_id, _live(now)))
        if (held or 0) >= cfg.max_active_orders:
            raise Forbidden(
                f"You already hold {cfg.max_active_orders} pending orders.", code="too_many_orders"
            )
        # An expired-but-unswept pending order must not block the unique index.
        await _mark_expired(session, now, QNAOrder.qna_id == qna.id)
        order = QNAOrder(
            qna_id=qna.id,
            coach_id=coach_id,
            status=PENDING,
            created_at=now,
            expiration=now + dt.timedelta(hours=cfg.order_hours),
        )
        session.add(order)
        try:
            await session.flush()
        except IntegrityError:
            raise Forbidden("Another coach holds a pending order on this question.", code="order_taken") from None
    return order, qna


async def _live_order_of(session: AsyncSession, qna_id: int, coach_id: str, now: dt.datetime) -> QNAOrder:
    order = await session.scalar(
        select(QNAOrder)
        .where(QNAOrder.qna_id == qna_id, QNAOrder.coach_id == coach_id, _live(now))
        .with_for_update()
    )
    if order is None:
        raise Forbidden("You hold no pending order on this question.", code="no_active_order")
    return order


async def cancel_order(app: web.Application, coach_id: str, alias: str) -> tuple[QNAOrder, QNA]:
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        qna = await _lock_question(session, QNA.alias == alias)
        order = await _live_order_of(session, qna.id, coach_id, now)
        order.status = CANCELLED
        order.cancel_reason = BY_COACH
        order.closed_at = now
    return order, qna


async def answer(
    app: web.Application, coach_id: str, qna_id: int, answer_text: str, suggestion: str
) -> tuple[QNAOrder, QNA]:
    """Store the answer, complete the order, notify the asker (in-app and by email
    through the outbox) in one transaction; then tell other plugins."""
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        qna = await _lock_question(session, QNA.id == qna_id)
        if qna.answered_at is not None:
            raise Forbidden("This question has already been answered.", code="qna_answered")
        order = await _live_order_of(session, qna.id, coach_id, now)
        qna.answer = answer_text
        qna.suggestion = suggestion
        qna.answered_at = now
        qna.answered_by = coach_id
        order.status = COMPLETED
        order.closed_at = now
        await _load_tags(session, [qna])
        await notify(session, user_id=qna.user_id, type="qna_answered", now=now, **answered_message(qna, order))
    await call_async(app[PLUGIN_MANAGER], "qna_answered", app=app, qna=qna, order=order)
    return order, qna


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def answered_message(qna: QNA, order: QNAOrder) -> dict[str, Any]:
    """The notification and email the asker receives."""
    question = _excerpt(qna.q1)
    return {
        "title": "Your question has been answered",
        "body": f'A coach answered your question "{question}".',
        "data": {"qna_id": qna.id, "qna_alias": qna.alias, "order_id": order.id},
        "email": True,
        "email_subject": "Your question has been answered",
        "email_body": (
            f"Hello,\n\nA coach has answered your question:\n\n  {qna.q1}\n\n"
            f"Answer:\n{qna.answer}\n\nSuggestion:\n{qna.suggestion}\n"
        ),
    }


async def expire_orders(app: web.Application) -> int:
    """Mark every pending order past its expiration CL/expired; returns how many.

    Idempotent (a conditional UPDATE), and it never waits: rows another
    transaction has locked are skipped on PostgreSQL and caught by the next run
    (until then they already count as cancelled).
    """
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        due = (
            select(QNAOrder.id)
            .where(QNAOrder.status == PENDING, QNAOrder.expiration <= now)
            .with_for_update(skip_locked=True)
        )
        return await _mark_expired(session, now, QNAOrder.id.in_(due.scalar_subquery()))

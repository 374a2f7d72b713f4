"""Outbox delivery: claim due rows under a lease, send each, record the outcome.

Guarantees:
- Two workers never hold the same row: the claim is one conditional UPDATE over the
  due rows (on PostgreSQL their ids are picked with FOR UPDATE SKIP LOCKED, so
  concurrent workers take different rows instead of queueing; on SQLite the write
  transaction holds the database lock). The claim moves a row to `sending` with a
  lease (`locked_until`) and counts the attempt.
- A row marked `sent` is never claimed again, so a success is never resent.
- Delivery is at-least-once: if a worker dies between the SMTP send and marking the
  row sent, the row becomes claimable when its lease expires and is sent again.
  Every attempt carries the same `Message-ID: <row id@sender domain>` (and the same
  `Date`, the queue time), so receivers and mail clients can de-duplicate.
- A failed attempt goes back to `pending` with exponential backoff (capped); after
  `email.max_attempts` attempts, or a permanent refusal (5xx on the recipient or the
  content), the row is `failed` and an error is logged. Nothing is ever deleted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Sequence

from aiohttp import web
from sqlalchemy import and_, func, literal, or_, select, text, update

from ..keys import CLOCK, DB, MAILER, SETTINGS
from .mailer import PermanentDeliveryError, sender_domain
from .models import OUTBOX_QUEUED, OutboxEmail

log = logging.getLogger("mentorkit.outbox")

BATCH_SIZE = 20
MAX_BATCHES_PER_RUN = 50  # bound one run; the next tick continues
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
LEASE_MARGIN = dt.timedelta(seconds=30)
MAX_ERROR_LENGTH = 2000


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after `attempts` failed ones: 30s, 1m, 2m... capped at 1h."""
    exponent = min(max(attempts - 1, 0), 20)  # 30s * 2**20 is far past the cap; bigger overflows timedelta
    return min(BACKOFF_BASE * (2**exponent), BACKOFF_CAP)


def lease_for(app: web.Application, batch_size: int) -> dt.timedelta:
    """Long enough to send a whole batch one message at a time, each up to the SMTP timeout."""
    timeout = float(app[SETTINGS].email.timeout)
    return dt.timedelta(seconds=timeout * (batch_size + 1)) + LEASE_MARGIN


def _due(now: dt.datetime):  # noqa: ANN202 - a SQL expression
    return and_(
        text(OUTBOX_QUEUED),  # literal, so PostgreSQL can match it to the partial due-index
        or_(OutboxEmail.next_attempt_at.is_(None), OutboxEmail.next_attempt_at <= now),
    )


async def claim_due(app: web.Application, *, limit: int = BATCH_SIZE) -> Sequence[OutboxEmail]:
    """Take up to `limit` due rows (pending and due, or sending with an expired lease)."""
    db = app[DB]
    now = app[CLOCK].now()
    lease_until = now + lease_for(app, limit)
    domain = sender_domain(app[SETTINGS].email.sender)
    ids = select(OutboxEmail.id).where(_due(now)).order_by(OutboxEmail.created_at, OutboxEmail.id).limit(limit)
    if not db.is_sqlite:
        ids = ids.with_for_update(skip_locked=True)
    claim = (
        update(OutboxEmail)
        .where(OutboxEmail.id.in_(ids.scalar_subquery()), _due(now))  # re-checked on the locked row
        .values(
            status="sending",
            attempts=OutboxEmail.attempts + 1,
            locked_until=lease_until,
            next_attempt_at=lease_until,
            message_id=func.coalesce(OutboxEmail.message_id, literal("<") + OutboxEmail.id + literal(f"@{domain}>")),
        )
        .returning(OutboxEmail)
        .execution_options(synchronize_session=False)
    )
    async with db.transaction() as session:
        rows = (await session.scalars(claim)).all()
    return sorted(rows, key=lambda r: (r.created_at, r.id))


def compose(row: OutboxEmail, sender: str) -> EmailMessage:
    """The message for a row; identical on every attempt (same Message-ID and Date)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = row.message_id
    for name, value in (row.headers or {}).items():
        message[name] = value
    message.set_content(row.body)
    return message


async def deliver_due(app: web.Application, *, batch_size: int = BATCH_SIZE) -> int:
    """The `core.outbox` task: deliver every due email; returns how many were sent."""
    sent = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        rows = await claim_due(app, limit=batch_size)
        for row in rows:
            sent += await _deliver(app, row)
        if len(rows) < batch_size:
            break
    return sent


async def _deliver(app: web.Application, row: OutboxEmail) -> int:
    mailer = app[MAILER]
    try:
        await mailer.send(compose(row, mailer.sender))
    except asyncio.CancelledError:
        raise  # the lease expires and another attempt picks the row up
    except PermanentDeliveryError as exc:
        await _record_failure(app, row, exc, permanent=True)
        return 0
    except Exception as exc:  # noqa: BLE001 - any send failure is retried, never lost
        await _record_failure(app, row, exc, permanent=False)
        return 0
    await _mark_sent(app, row)
    return 1


def _ours(row: OutboxEmail):  # noqa: ANN202 - a SQL expression
    """Only the attempt that claimed the row records its outcome (fencing by attempt number)."""
    return and_(OutboxEmail.id == row.id, OutboxEmail.status == "sending", OutboxEmail.attempts == row.attempts)


async def _mark_sent(app: web.Application, row: OutboxEmail) -> None:
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        result = await session.execute(
            update(OutboxEmail)
            .where(_ours(row))
            .values(status="sent", sent_at=now, locked_until=None, next_attempt_at=None, last_error=None)
            .execution_options(synchronize_session=False)
        )
    if not result.rowcount:
        log.warning("email %s was sent after its lease expired; another attempt may send it again", row.id)


async def _record_failure(app: web.Application, row: OutboxEmail, exc: BaseException, *, permanent: bool) -> None:
    now = app[CLOCK].now()
    max_attempts = app[SETTINGS].email.max_attempts
    error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    give_up = permanent or row.attempts >= max_attempts
    retry_at = None if give_up else now + backoff(row.attempts)
    async with app[DB].transaction() as session:
        result = await session.execute(
            update(OutboxEmail)
            .where(_ours(row))
            .values(
                status="failed" if give_up else "pending",
                next_attempt_at=retry_at,
                locked_until=None,
                last_error=error,
            )
            .execution_options(synchronize_session=False)
        )
    if not result.rowcount:
        log.warning("email %s: attempt %d failed after its lease expired (%s)", row.id, row.attempts, error)
    elif give_up:
        reason = "was refused" if permanent else f"failed {row.attempts} times"
        log.error("email %s %s; giving up: %s", row.id, reason, error)
    else:
        log.warning("email %s attempt %d failed, retrying at %s: %s", row.id, row.attempts, retry_at.isoformat(), error)

"""Notification rules: the one service call plugins use, and the reader's operations.

`notify` and `queue_email` work inside the caller's session and never commit: the
notification, its email and the business change that caused them are one
transaction, so a rolled-back operation leaves no stray notification or email.
"""

from __future__ import annotations

import datetime as dt
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any, Mapping, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.models import User
from ..db import utcnow
from ..errors import NotFound
from .models import Notification, OutboxEmail

# Headers the outbox writes itself; a caller may add others (Reply-To, List-Unsubscribe...).
RESERVED_HEADERS = frozenset({"from", "to", "cc", "bcc", "subject", "message-id", "date"})


async def notify(
    session: AsyncSession,
    *,
    user_id: str,
    type: str,
    title: str,
    body: str,
    data: Mapping[str, Any] | None = None,
    email: bool = True,
    email_subject: str | None = None,
    email_body: str | None = None,
    now: dt.datetime | None = None,
) -> Notification:
    """Notify a user in-app and (if `email`) queue an email to their address.

    Runs in the caller's transaction and does not commit. Pass `now=app[CLOCK].now()`
    to date the notification by the app's clock. A user who archived their profile
    (`is_active` false) still gets the in-app record but no email.
    """
    user = (await session.execute(select(User.email, User.is_active).where(User.id == user_id))).first()
    if user is None:
        raise NotFound("User not found.", code="errMsg_userNotFound")
    created = now or utcnow()
    notification = Notification(
        user_id=user_id, type=type, title=title, body=body, data=dict(data or {}), is_read=False, created_at=created
    )
    session.add(notification)
    if email and user.is_active:
        await queue_email(
            session,
            to=user.email,
            subject=email_subject if email_subject is not None else title,
            body=email_body if email_body is not None else body,
            now=created,
        )
    await session.flush()
    return notification


async def queue_email(
    session: AsyncSession,
    *,
    to: str,
    subject: str,
    body: str,
    headers: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> OutboxEmail:
    """Queue a plain email in the caller's transaction; the outbox task delivers it.

    Raises ValueError for an unusable address or a header that would break the
    message (line breaks, a header the outbox owns), so the caller learns now
    rather than the row failing on every delivery attempt.
    """
    row = OutboxEmail(
        to_address=validate_address(to),
        subject=_header_value("Subject", subject),
        body=body,
        headers=_extra_headers(headers),
        status="pending",
        attempts=0,
        next_attempt_at=None,  # due at once
        created_at=now or utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


def validate_address(address: str) -> str:
    address = address.strip()
    _header_value("To", address)
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, HeaderParseError):
        raise ValueError(f"not an email address: {address!r}") from None
    if not parsed.username or "." not in parsed.domain:
        raise ValueError(f"not an email address: {address!r}")
    return address


def _header_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must not contain line breaks")
    return value


def _extra_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    if not headers:
        return None
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not name or any(c in name for c in ":\r\n ") or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} cannot be set on a queued email")
        out[name] = _header_value(name, str(value))
    return out


# -- the reader's side -------------------------------------------------------------


async def list_for_user(
    session: AsyncSession, user_id: str, *, unread_only: bool, offset: int, limit: int | None
) -> tuple[Sequence[Notification], int]:
    """One page of a user's notifications, newest first, and the total count."""
    where = [Notification.user_id == user_id]
    if unread_only:
        where.append(Notification.is_read.is_(False))
    total = (await session.execute(select(func.count()).select_from(Notification).where(*where))).scalar_one()
    query = select(Notification).where(*where).order_by(Notification.created_at.desc(), Notification.id.desc())
    if limit is not None:
        query = query.offset(offset).limit(limit)
    return (await session.scalars(query)).all(), total


async def mark_read(session: AsyncSession, user_id: str, notification_id: str) -> Notification:
    """Mark one of the user's notifications read; someone else's is not found."""
    notification = await session.scalar(
        select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
    )
    if notification is None:
        raise NotFound("Notification not found.", code="errMsg_notificationNotFound")
    notification.is_read = True  # flushed on commit; a no-op when already read
    await session.flush()
    return notification


async def mark_all_read(session: AsyncSession, user_id: str) -> int:
    """Mark every unread notification of the user read; the number changed."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.is_read.is_(False))
        .values(is_read=True)
    )
    return result.rowcount or 0

"""The export (POST /coaching-sessions): validate, then stream the JSON array from the database.

Everything that can fail with a status (auth and rate limit in the core
middleware, the body here, the first database read) happens before the response
is prepared. After that the array is written chunk by chunk: keyset pagination
on `(axis date, id)` reads `chunk_size` sessions at a time inside one read
transaction (a consistent snapshot), and only the current chunk is ever in memory.
On PostgreSQL one statement per chunk returns each session's finished JSON
(`export_pg`); on SQLite the rows and their children (five IN queries per chunk)
are serialized here.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any, AsyncIterator

from aiohttp import web
from sqlalchemy import literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database, UTCDateTime
from core.errors import BadRequest
from core.jsonutil import dumps, loads

from .export_pg import chunk_documents
from .models import CoachingSession
from .related import load_related
from .serialize import session_out

log = logging.getLogger("mentorkit.coaching.export")

FIELDS = ("startDate", "endDate", "timeAxis")
AXES = ("meetingDate", "createdAt")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_sessions = CoachingSession.__table__
_AXIS_COLUMNS = {"meetingDate": _sessions.c.meeting_date, "createdAt": _sessions.c.created_at}
# The window's last instant, as the contract states it: endDate 23:59:59.999.
_END_OF_DAY = dt.time(23, 59, 59, 999000)


@dataclass(frozen=True)
class ExportWindow:
    start: dt.datetime
    end: dt.datetime  # inclusive
    axis: str


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_export_request")


def parse_body(raw: bytes, max_days: int) -> ExportWindow:
    """The window the body asks for; checks run in the contract's order, first failure wins."""
    try:
        body = loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _invalid("Request body must be a JSON object.")
    missing = [name for name in FIELDS if body.get(name) is None]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        raise _invalid(f"Missing required {noun}: {', '.join(missing)}.")
    start = _date(body, "startDate")
    end = _date(body, "endDate")
    if end < start:
        raise _invalid("endDate must not be before startDate.")
    if (end - start).days > max_days:
        raise _invalid(f"endDate must be within {max_days} days of startDate.")
    axis = body["timeAxis"]
    if axis not in AXES:
        raise _invalid('timeAxis must be "meetingDate" or "createdAt".')
    return ExportWindow(
        start=dt.datetime.combine(start, dt.time(), tzinfo=dt.timezone.utc),
        end=dt.datetime.combine(end, _END_OF_DAY, tzinfo=dt.timezone.utc),
        axis=axis,
    )


def _date(body: dict[str, Any], name: str) -> dt.date:
    value = body[name]
    if isinstance(value, str) and _DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _invalid(f"{name} must be a real date formatted YYYY-MM-DD.")


def _on_postgresql(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "postgresql"


async def _chunk(db: AsyncSession, window: ExportWindow, after: tuple[dt.datetime, str] | None, size: int) -> list[Any]:
    if _on_postgresql(db):
        return await chunk_documents(db, window.axis, window.start, window.end, after, size)
    axis = _AXIS_COLUMNS[window.axis]
    query = select(_sessions).where(axis >= window.start, axis <= window.end)
    if after is not None:
        query = query.where(tuple_(axis, _sessions.c.id) > tuple_(literal(after[0], UTCDateTime()), literal(after[1])))
    conn = await db.connection()
    return list((await conn.execute(query.order_by(axis, _sessions.c.id).limit(size))).all())


async def _encoded(db: AsyncSession, rows: list[Any]) -> bytes:
    """The chunk's sessions as comma-separated JSON objects (no brackets)."""
    if _on_postgresql(db):
        return b",".join(row.doc for row in rows)
    related = await load_related(db, [row.id for row in rows], include_deleted=True)
    return b",".join(dumps(related.attach(session_out(row))) for row in rows)


def _key(window: ExportWindow, row: Any) -> tuple[dt.datetime, str]:
    return (row.meeting_date if window.axis == "meetingDate" else row.created_at), row.id


async def _rest(db: AsyncSession, window: ExportWindow, size: int, after: tuple[dt.datetime, str]) -> AsyncIterator[bytes]:
    """The chunks after the key `after`, each read once its predecessor is written."""
    while True:
        rows = await _chunk(db, window, after, size)
        if rows:
            yield await _encoded(db, rows)
        if len(rows) < size:
            return
        after = _key(window, rows[-1])


async def _snapshot(db: Database, session: AsyncSession) -> None:
    """One read-only snapshot for the whole export (SQLite's read transaction already is one)."""
    if db.is_sqlite:
        await session.connection()
    else:
        conn = await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        # Big chunks cross jit_above_cost; compiling the JSON query each chunk costs more than it saves.
        await conn.exec_driver_sql("SET LOCAL jit = off")


async def stream_export(request: web.Request, db: Database, window: ExportWindow, chunk_size: int) -> web.StreamResponse:
    async with db.session() as session:
        await _snapshot(db, session)
        first = await _chunk(session, window, None, chunk_size)
        head = b"[" + await _encoded(session, first)  # a failure so far is still a clean error response
        after = _key(window, first[-1]) if len(first) == chunk_size else None
        del first

        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.charset = "utf-8"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(head)
            del head
            if after is not None:
                async for data in _rest(session, window, chunk_size, after):
                    await response.write(b"," + data)
            await response.write(b"]")
        except OSError:
            raise  # the client went away; nothing to tell it
        except Exception:
            # The status is sent: cut the connection so the client sees a broken body, not a short array.
            log.exception("coaching export failed after the response started")
            if request.transport is not None:
                request.transport.close()
            return response
    await response.write_eof()
    return response

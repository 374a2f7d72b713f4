"""The export's chunk query on PostgreSQL: the database writes each session's JSON.

Building ~7 dicts and formatting ~20 dates per session in Python caps the export at a
few thousand sessions a second; PostgreSQL renders the same document far faster. One
statement per chunk returns, per session, its keyset key and its finished JSON text,
so the Python side only joins bytes.

The text must be byte-identical to what `serialize` + orjson produce, which fixes the
building blocks: `row_to_json` and `array_to_json` (compact, keys in column order;
`json_build_object` and `json_agg` add spaces), `to_char` for the
`2026-01-01T10:00:00.000Z` dates (truncated to milliseconds, as `isoformat` does), and
descriptions normalized (the stored JSON text keeps whatever spacing and escaping its
writer used). Children come in the Python path's order: activity by
id, points and to-dos by (created_at, id), `coachingFormIds` by link position.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UTCDateTime

# `core.jsonutil.utc_iso`'s form; to_char's MS truncates like isoformat(timespec="milliseconds").
_DATE = "to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"


def _d(column: str) -> str:
    return _DATE.format(column)


def _members_of(alias: str, link_table: str, key: str) -> str:
    """`coachingFormIds`: every session of the member, in the order the client gave them."""
    return (
        f"(SELECT array_to_json(array_agg(fl.session_id ORDER BY fl.position, fl.session_id)) "
        f"FROM {link_table} fl WHERE fl.{key} = {alias}.id)"
    )


# A stored array of plain strings (no backslash: nothing escaped, and PostgreSQL's json
# type rejects raw control characters) is already canonical once the ", " separators of
# Python's json.dumps are closed up; a `", "` cannot occur inside such a string. Anything
# else is re-encoded element by element. SQL NULL and JSON null both give `[]`.
_PLAIN_STRINGS = r"""'^\[("[^"\\]*"(, ?"[^"\\]*")*)?\]$'"""
_DESCRIPTIONS = (
    f"""CASE WHEN e.descriptions::text ~ {_PLAIN_STRINGS} THEN replace(e.descriptions::text, '", "', '","')::json """
    "WHEN json_typeof(e.descriptions) = 'array' THEN COALESCE(("
    "SELECT array_to_json(array_agg("
    "CASE json_typeof(x.v) WHEN 'string' THEN to_json(x.v #>> '{}') ELSE x.v END ORDER BY x.n)) "
    "FROM json_array_elements(e.descriptions) WITH ORDINALITY AS x(v, n)), '[]'::json) "
    "ELSE '[]'::json END"
)

# Below: (wire name, SQL expression), in the order `serialize` writes the keys.
_ACTIVITY = (
    ("userId", "e.user_id"),
    ("userEmail", "e.user_email"),
    ("actionType", "e.action_type"),
    ("descriptions", _DESCRIPTIONS),
    ("timestamp", _d("e.timestamp")),
    ("ipAddress", "e.ip_address"),
)

_POINT = (
    ("_id", "p.id"),
    ("coachingFormIds", _members_of("p", "coaching_point_sessions", "point_id")),
    ("type", "p.type"),
    ("classification", "p.classification"),
    ("ticketId", "p.ticket_id"),
    ("subject", "p.subject"),
    ("rubricName", "p.rubric_name"),
    ("criteriaName", "p.criteria_name"),
    ("kpiName", "p.kpi_name"),
    ("score", "p.score"),
    ("agentNotes", "p.agent_notes"),
    ("coachNotes", "p.coach_notes"),
    ("createdAt", _d("p.created_at")),
    ("updatedAt", _d("p.updated_at")),
    ("isDeleted", "p.is_deleted"),
)

_TODO = (
    ("_id", "t.id"),
    ("actionString", "t.action_string"),
    ("coachingFormIds", _members_of("t", "coaching_todo_sessions", "todo_id")),
    ("completedAt", _d("t.completed_at")),
    ("createdAt", _d("t.created_at")),
    ("creatorId", "t.creator_id"),
    ("creatorName", "t.creator_name"),
    ("description", "t.description"),
    ("link", "t.link"),
    ("status", "t.status"),
    ("title", "t.title"),
    ("type", "t.type"),
    ("updatedAt", _d("t.updated_at")),
    ("isDeleted", "t.is_deleted"),
)


def _columns(fields: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f'{expr} AS "{name}"' for name, expr in fields)


def _array(fields: tuple[tuple[str, str], ...], tables: str, where: str, order: str, name: str) -> str:
    """A compact JSON array of objects with exactly these keys in this order. The objects come
    from a LATERAL subquery without FROM, which the planner flattens: no subplan per row."""
    return (
        f"COALESCE((SELECT array_to_json(array_agg(row_to_json({name}) ORDER BY {order})) "
        f"FROM {tables}, LATERAL (SELECT {_columns(fields)}) {name} WHERE {where}), '[]'::json)"
    )


_SESSION = (
    ("_id", "s.id"),
    ("coachingFormName", "s.coaching_form_name"),
    ("coachingTemplateId", "s.coaching_template_id"),
    ("coachingTemplateName", "s.coaching_template_name"),
    ("meetingFormat", "s.meeting_format"),
    ("formCreatorId", "s.form_creator_id"),
    ("formCreatorName", "s.form_creator_name"),
    ("coachName", "s.coach_name"),
    ("coachId", "s.coach_id"),
    ("agentId", "s.agent_id"),
    ("agentName", "s.agent_name"),
    ("createdAt", _d("s.created_at")),
    ("updatedAt", _d("s.updated_at")),
    ("sharedWithAgent", "s.shared_with_agent"),
    ("meetingDate", _d("s.meeting_date")),
    ("agentConfirmed", "s.agent_confirmed"),
    ("coachConfirmed", "s.coach_confirmed"),
    ("coachNotes", "s.coach_notes"),
    ("agentNotes", "s.agent_notes"),
    ("isDeleted", "s.is_deleted"),
    ("activityLog", _array(_ACTIVITY, "coaching_activity_log e", "e.session_id = s.id", "e.id", "ra")),
    (
        "coachingPoints",
        _array(
            _POINT,
            "coaching_point_sessions pl JOIN coaching_points p ON p.id = pl.point_id",
            "pl.session_id = s.id",
            "p.created_at, p.id",
            "rp",
        ),
    ),
    (
        "todos",
        _array(
            _TODO,
            "coaching_todo_sessions tl JOIN coaching_todos t ON t.id = tl.todo_id",
            "tl.session_id = s.id",
            "t.created_at, t.id",
            "rt",
        ),
    ),
)

_AXIS_COLUMNS = {"meetingDate": "meeting_date", "createdAt": "created_at"}


def _statement(axis: str, *, keyset: bool) -> Any:
    column = _AXIS_COLUMNS[axis]  # a fixed name from this table, never user text
    after = f" AND (s.{column}, s.id) > (:after_date, :after_id)" if keyset else ""
    sql = (
        f"SELECT s.{column} AS {column}, s.id AS id, convert_to(row_to_json(rs)::text, 'UTF8') AS doc "
        f"FROM coaching_sessions s, LATERAL (SELECT {_columns(_SESSION)}) rs WHERE s.{column} >= :start AND s.{column} <= :end{after} "
        f"ORDER BY s.{column}, s.id LIMIT :size"
    )
    params = [bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())]
    if keyset:
        params.append(bindparam("after_date", type_=UTCDateTime()))
    return text(sql).bindparams(*params)


_STATEMENTS = {(axis, keyset): _statement(axis, keyset=keyset) for axis in _AXIS_COLUMNS for keyset in (False, True)}


async def chunk_documents(
    db: AsyncSession,
    axis: str,
    start: dt.datetime,
    end: dt.datetime,
    after: tuple[dt.datetime, str] | None,
    size: int,
) -> list[Any]:
    """Up to `size` sessions after the key `after`: rows of (axis date, id, doc bytes)."""
    params: dict[str, Any] = {"start": start, "end": end, "size": size}
    if after is not None:
        params["after_date"], params["after_id"] = after
    conn = await db.connection()
    result = await conn.execute(_STATEMENTS[(axis, after is not None)], params)
    return list(result.all())

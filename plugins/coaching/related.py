"""Activity, points and to-dos for a batch of sessions: five IN queries per batch,
whatever its size, so neither a page nor an export chunk costs a query per session."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from .models import ActivityLogEntry, CoachingPoint, CoachingPointSession, Todo, TodoSession
from .serialize import activity_out, point_out, todo_out

_activity = ActivityLogEntry.__table__
_points = CoachingPoint.__table__
_point_links = CoachingPointSession.__table__
_todos = Todo.__table__
_todo_links = TodoSession.__table__


def _member_of(column: Any, ids: list[str], conn: AsyncConnection) -> Any:
    """`column IN ids`; on PostgreSQL `= ANY(array)`, one parameter however many ids,
    which saves compiling a fresh statement with hundreds of placeholders per chunk."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(String)))
    return column.in_(ids)


@dataclass
class Related:
    activity: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    points: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    todos: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def attach(self, session: dict[str, Any]) -> dict[str, Any]:
        """Add `activityLog`, `coachingPoints` and `todos` to a serialized session."""
        sid = session["_id"]
        session["activityLog"] = self.activity.get(sid, [])
        session["coachingPoints"] = self.points.get(sid, [])
        session["todos"] = self.todos.get(sid, [])
        return session


async def load_related(
    db: AsyncSession, session_ids: Sequence[str], *, include_deleted: bool, with_ip: bool = True
) -> Related:
    related = Related()
    if not session_ids:
        return related
    ids = list(session_ids)
    conn = await db.connection()  # Core rows straight from the connection: no ORM layer per row

    rows = await conn.execute(
        select(_activity)
        .where(_member_of(_activity.c.session_id, ids, conn))
        .order_by(_activity.c.session_id, _activity.c.id)
    )
    for row in rows:
        related.activity[row.session_id].append(activity_out(row, with_ip=with_ip))

    await _load_members(conn, ids, related.points, _points, _point_links, "point_id", point_out, include_deleted)
    await _load_members(conn, ids, related.todos, _todos, _todo_links, "todo_id", todo_out, include_deleted)
    return related


async def _load_members(
    conn: AsyncConnection,
    session_ids: list[str],
    out: dict[str, list[dict[str, Any]]],
    table: Any,
    links: Any,
    key: str,
    render: Any,
    include_deleted: bool,
) -> None:
    """Members (points or to-dos) of the sessions, each with all of its session ids."""
    link_key = links.c[key]
    query = (
        select(links.c.session_id, table)
        .join(table, table.c.id == link_key)
        .where(_member_of(links.c.session_id, session_ids, conn))
        .order_by(table.c.created_at, table.c.id)
    )
    if not include_deleted:
        query = query.where(table.c.is_deleted.is_(False))
    rows = (await conn.execute(query)).all()
    if not rows:
        return
    member_ids = list({row.id for row in rows})
    form_ids: dict[str, list[str]] = defaultdict(list)
    for member_id, session_id in await conn.execute(
        select(link_key, links.c.session_id)
        .where(_member_of(link_key, member_ids, conn))
        .order_by(link_key, links.c.position, links.c.session_id)  # ties: a stable order
    ):
        form_ids[member_id].append(session_id)
    rendered: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = rendered.get(row.id)
        if item is None:
            item = rendered[row.id] = render(row, form_ids[row.id])
        out[row.session_id].append(item)

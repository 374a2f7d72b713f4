"""The coaching rules: who sees and changes what, and the activity log every change writes.

Visibility: a session is seen by its coach, by admins, and by its agent once it is
shared; to everybody else (and once deleted) it does not exist (404). Coach-side
changes (fields, sharing, points, to-dos, deleting) belong to the session's coach
and to admins; the agent of a shared session writes `agentNotes`, confirms, and
completes to-dos. A point or to-do follows its sessions: visible through any of
them, changed by whoever is on the coach side of all of them.

Every write runs in one transaction that locks the rows it checks (row locks on
PostgreSQL, BEGIN IMMEDIATE on SQLite) and appends activity entries in the same
transaction, so a retried or racing request never logs a change twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

from aiohttp import web
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.models import User
from core.errors import BadRequest, Forbidden, NotFound
from core.jsonutil import utc_iso
from core.keys import CLOCK, DB, IDENTITY
from core.ratelimit import client_address

from .models import ActivityLogEntry, CoachingPoint, CoachingPointSession, CoachingSession, Todo, TodoSession, new_id
from .related import load_related
from .schemas import POINT_COLUMNS, SESSION_COLUMNS, TODO_COLUMNS
from .serialize import point_out, session_out, todo_out

COACH_PERMISSION = "coaching.coach"
NOTE_FIELDS = frozenset({"coachNotes", "agentNotes", "description"})
IP_MAX = 64  # ActivityLogEntry.ip_address


@dataclass(frozen=True)
class Actor:
    """The caller, as the activity log records them."""

    user_id: str
    email: str
    fullname: str
    is_admin: bool
    ip: str | None

    @classmethod
    def of(cls, request: web.Request) -> "Actor":
        identity = request[IDENTITY]
        return cls(identity.user_id, identity.email, identity.fullname, identity.is_admin, client_ip(request))


def client_ip(request: web.Request) -> str:
    """The caller's address behind trusted proxies, cut to the column's width (a forwarded
    value is not ours to trust blindly)."""
    return client_address(request)[:IP_MAX]


@dataclass(frozen=True)
class SessionAccess:
    coach_side: bool  # the session's coach, or an admin
    agent: bool  # the agent of a shared session
    coach: bool  # the session's coach in person


def access_to(s: CoachingSession, actor: Actor) -> SessionAccess | None:
    """How `actor` relates to a session; None means it does not exist for them."""
    if s.is_deleted:
        return None
    coach = s.coach_id == actor.user_id
    agent = s.agent_id == actor.user_id and s.shared_with_agent
    if not (coach or agent or actor.is_admin):
        return None
    return SessionAccess(coach_side=coach or actor.is_admin, agent=agent, coach=coach)


def _now(request: web.Request) -> dt.datetime:
    return request.app[CLOCK].now()


def _log(db: AsyncSession, session_id: str, actor: Actor, action: str, descriptions: list[str], now: dt.datetime) -> None:
    db.add(
        ActivityLogEntry(
            session_id=session_id,
            user_id=actor.user_id,
            user_email=actor.email,
            action_type=action,
            descriptions=descriptions,
            timestamp=now,
            ip_address=actor.ip,
        )
    )


def _describe(field: str, old: Any, new: Any) -> str:
    if field in NOTE_FIELDS:
        return f"{field} changed"
    if isinstance(old, dt.datetime) or isinstance(new, dt.datetime):
        return f"{field} changed from {utc_iso(old)} to {utc_iso(new)}"
    return f'{field} changed from "{old}" to "{new}"'


async def _user(db: AsyncSession, user_id: str) -> User:
    """An existing user: soft-deleted accounts are gone for every route, so they are no agents."""
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise BadRequest("agentId does not name an existing user.", code="unknown_agent")
    return user


async def _load_session(db: AsyncSession, session_id: str, actor: Actor, *, lock: bool) -> tuple[CoachingSession, SessionAccess]:
    query = select(CoachingSession).where(CoachingSession.id == session_id)
    if lock:
        query = query.with_for_update()
    s = await db.scalar(query)
    access = access_to(s, actor) if s is not None else None
    if s is None or access is None:
        raise NotFound("Coaching session not found.")
    return s, access


async def _detail(db: AsyncSession, s: CoachingSession, actor: Actor) -> dict[str, Any]:
    related = await load_related(db, [s.id], include_deleted=False, with_ip=actor.is_admin)
    return related.attach(session_out(s))


# --- sessions -----------------------------------------------------------------------------


async def create_session(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    actor, now = Actor.of(request), _now(request)
    async with request.app[DB].transaction() as db:
        agent = await _user(db, body["agentId"])
        s = CoachingSession(
            id=new_id(),
            form_creator_id=actor.user_id,
            form_creator_name=actor.fullname,
            coach_id=actor.user_id,
            coach_name=actor.fullname,
            agent_id=agent.id,
            agent_name=agent.fullname,
            created_at=now,
            updated_at=now,
            meeting_date=body["meetingDate"],
            shared_with_agent=False,
            agent_confirmed=False,
            coach_confirmed=False,
            agent_notes="",
            is_deleted=False,
            **{SESSION_COLUMNS[k]: v for k, v in body.items() if k not in ("agentId", "meetingDate")},
        )
        db.add(s)
        await db.flush()
        _log(db, s.id, actor, "created", ["coaching session created", f"agent: {agent.fullname}"], now)
        await db.flush()
        return await _detail(db, s, actor)


async def list_sessions(request: web.Request, page: int, page_size: int) -> dict[str, Any]:
    actor = Actor.of(request)
    where = [CoachingSession.is_deleted.is_(False)]
    if not actor.is_admin:
        where.append(
            or_(
                CoachingSession.coach_id == actor.user_id,
                and_(CoachingSession.agent_id == actor.user_id, CoachingSession.shared_with_agent.is_(True)),
            )
        )
    async with request.app[DB].session() as db:
        total = await db.scalar(select(func.count()).select_from(CoachingSession).where(*where))
        rows = (
            await db.scalars(
                select(CoachingSession)
                .where(*where)
                .order_by(CoachingSession.created_at.desc(), CoachingSession.id.desc())
                .offset((page - 1) * page_size)
                .limit(page_size)
            )
        ).all()
        related = await load_related(db, [s.id for s in rows], include_deleted=False, with_ip=actor.is_admin)
    return {
        "page": page,
        "page_size": page_size,
        "total": total or 0,
        "results": [related.attach(session_out(s)) for s in rows],
    }


async def get_session(request: web.Request, session_id: str) -> dict[str, Any]:
    actor = Actor.of(request)
    async with request.app[DB].session() as db:
        s, _ = await _load_session(db, session_id, actor, lock=False)
        return await _detail(db, s, actor)


async def update_session(request: web.Request, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
    if not body:
        raise BadRequest("Nothing to change: send at least one field.", code="empty_patch")
    actor, now = Actor.of(request), _now(request)
    async with request.app[DB].transaction() as db:
        s, access = await _load_session(db, session_id, actor, lock=True)
        coach_fields = sorted(set(body) - {"agentNotes"})
        if coach_fields and not access.coach_side:
            raise Forbidden(f"Only the session's coach can change {', '.join(coach_fields)}.")
        if "agentNotes" in body and not access.agent:
            raise Forbidden("Only the agent of a shared session can write agentNotes.")
        descriptions: list[str] = []
        for field, value in body.items():
            column = SESSION_COLUMNS[field]
            old = getattr(s, column)
            if value == old:
                continue
            if field == "agentId":
                agent = await _user(db, value)
                descriptions.append(f'agent changed from "{s.agent_name}" to "{agent.fullname}"')
                s.agent_name = agent.fullname
            else:
                descriptions.append(_describe(field, old, value))
            setattr(s, column, value)
        if descriptions:
            s.updated_at = now
            _log(db, s.id, actor, "updated", descriptions, now)
            await db.flush()
        return await _detail(db, s, actor)


async def share_session(request: web.Request, session_id: str) -> dict[str, Any]:
    actor, now = Actor.of(request), _now(request)
    async with request.app[DB].transaction() as db:
        s, access = await _load_session(db, session_id, actor, lock=True)
        if not access.coach_side:
            raise Forbidden("Only the session's coach can share it.")
        if not s.shared_with_agent:
            s.shared_with_agent = True
            s.updated_at = now
            _log(db, s.id, actor, "shared", ["shared with agent"], now)
            await db.flush()
        return await _detail(db, s, actor)


async def confirm_session(request: web.Request, session_id: str) -> dict[str, Any]:
    """The coach confirms as coach, the agent as agent (both when one person is both)."""
    actor, now = Actor.of(request), _now(request)
    async with request.app[DB].transaction() as db:
        s, access = await _load_session(db, session_id, actor, lock=True)
        if not (access.coach or access.agent):
            raise Forbidden("Only the session's coach or agent can confirm it.")
        descriptions = []
        if access.coach and not s.coach_confirmed:
            s.coach_confirmed = True
            descriptions.append("confirmed by coach")
        if access.agent and not s.agent_confirmed:
            s.agent_confirmed = True
            descriptions.append("confirmed by agent")
        if descriptions:
            s.updated_at = now
            _log(db, s.id, actor, "confirmed", descriptions, now)
            await db.flush()
        return await _detail(db, s, actor)


async def delete_session(request: web.Request, session_id: str) -> None:
    actor, now = Actor.of(request), _now(request)
    async with request.app[DB].transaction() as db:
        s, access = await _load_session(db, session_id, actor, lock=True)
        if not access.coach_side:
            raise Forbidden("Only the session's coach can delete it.")
        s.is_deleted = True
        s.updated_at = now
        _log(db, s.id, actor, "deleted", ["coaching session deleted"], now)


# --- points and to-dos (members of one or more sessions) -----------------------------------


@dataclass(frozen=True)
class MemberKind:
    model: type
    link: type
    key: str  # the link table's column naming the member
    columns: dict[str, str]
    noun: str
    action: str  # activity prefix: point_added, todo_completed...
    agent_fields: frozenset[str]  # fields the agent of a shared session may change
    defaults: dict[str, str]

    def render(self, member: Any, form_ids: list[str]) -> dict[str, Any]:
        return (point_out if self.model is CoachingPoint else todo_out)(member, form_ids)


POINTS = MemberKind(
    CoachingPoint, CoachingPointSession, "point_id", POINT_COLUMNS, "coaching point", "point",
    frozenset({"agentNotes"}), {"type": "n/a", "classification": "general"},
)
TODOS = MemberKind(
    Todo, TodoSession, "todo_id", TODO_COLUMNS, "to-do", "todo", frozenset({"status"}), {"status": "open"}
)


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


async def _sessions_for_write(db: AsyncSession, ids: list[str], actor: Actor, noun: str) -> list[CoachingSession]:
    """Lock the named sessions; each must exist for the caller, who must be on its coach side."""
    found = {
        s.id: s
        for s in await db.scalars(
            select(CoachingSession).where(CoachingSession.id.in_(ids)).order_by(CoachingSession.id).with_for_update()
        )
    }
    sessions = []
    for sid in ids:
        s = found.get(sid)
        access = access_to(s, actor) if s is not None else None
        if s is None or access is None:
            raise NotFound(f"Coaching session {sid} not found.")
        if not access.coach_side:
            raise Forbidden(f"Only the session's coach can attach a {noun} to session {sid}.")
        sessions.append(s)
    return sessions


async def _link_ids(db: AsyncSession, kind: MemberKind, member_id: str) -> list[str]:
    link_key = getattr(kind.link, kind.key)
    return list(
        await db.scalars(select(kind.link.session_id).where(link_key == member_id).order_by(kind.link.position))
    )


async def _set_links(db: AsyncSession, kind: MemberKind, member_id: str, session_ids: list[str]) -> None:
    await db.execute(delete(kind.link).where(getattr(kind.link, kind.key) == member_id))
    for position, sid in enumerate(session_ids):
        db.add(kind.link(**{kind.key: member_id, "session_id": sid, "position": position}))


async def _load_member(
    db: AsyncSession, kind: MemberKind, member_id: str, actor: Actor
) -> tuple[Any, list[str], list[CoachingSession], bool, bool]:
    """(member, its session ids, its live sessions, caller controls it, caller is its agent).

    Locks the member and its sessions; 404 unless the caller sees one of its sessions.
    """
    member = await db.scalar(select(kind.model).where(kind.model.id == member_id).with_for_update())
    if member is None or member.is_deleted:
        raise NotFound(f"{kind.noun.capitalize()} not found.")
    form_ids = await _link_ids(db, kind, member_id)
    sessions = list(
        await db.scalars(
            select(CoachingSession)
            .where(CoachingSession.id.in_(form_ids), CoachingSession.is_deleted.is_(False))
            .order_by(CoachingSession.id)
            .with_for_update()
        )
    )
    accesses = [a for a in (access_to(s, actor) for s in sessions) if a is not None]
    if not accesses:
        raise NotFound(f"{kind.noun.capitalize()} not found.")
    controls = len(accesses) == len(sessions) and all(a.coach_side for a in accesses)
    is_agent = any(a.agent for a in accesses)
    return member, form_ids, sessions, controls, is_agent


async def create_member(request: web.Request, kind: MemberKind, body: dict[str, Any]) -> dict[str, Any]:
    actor, now = Actor.of(request), _now(request)
    ids = _unique(body["coachingFormIds"])
    async with request.app[DB].transaction() as db:
        sessions = await _sessions_for_write(db, ids, actor, kind.noun)
        values = {column: "" for column in kind.columns.values()}
        values.update(kind.defaults)
        values.update({kind.columns[k]: v for k, v in body.items() if k in kind.columns})
        if kind is TODOS:
            values["creator_name"] = actor.fullname
        member = kind.model(
            id=new_id(), creator_id=actor.user_id, created_at=now, updated_at=now, is_deleted=False, **values
        )
        db.add(member)
        await db.flush()
        await _set_links(db, kind, member.id, ids)
        description = _added_text(kind, member)
        for s in sessions:
            _log(db, s.id, actor, f"{kind.action}_added", [description], now)
        await db.flush()
        return kind.render(member, ids)


def _added_text(kind: MemberKind, member: Any) -> str:
    if kind is POINTS:
        return f"coaching point added: {member.type} ({member.classification})"
    return f'to-do added: "{member.title}"'


async def update_member(request: web.Request, kind: MemberKind, member_id: str, body: dict[str, Any]) -> dict[str, Any]:
    if not body:
        raise BadRequest("Nothing to change: send at least one field.", code="empty_patch")
    actor, now = Actor.of(request), _now(request)
    async with request.app[DB].transaction() as db:
        member, form_ids, sessions, controls, is_agent = await _load_member(db, kind, member_id, actor)
        coach_fields = sorted(set(body) - kind.agent_fields)
        if coach_fields and not controls:
            raise Forbidden(f"Only the coach of its sessions can change {', '.join(coach_fields)}.")
        agent_fields = sorted(set(body) & kind.agent_fields)
        if kind is POINTS and agent_fields and not is_agent:
            raise Forbidden("Only the agent of a shared session can write agentNotes.")
        if kind is TODOS and agent_fields and not (controls or is_agent):
            raise Forbidden("Only the coach or the agent of its sessions can change its status.")

        descriptions: list[str] = []
        action = "updated"
        for field, value in sorted(body.items(), key=lambda item: item[0] != "status"):  # status reads first
            if field == "coachingFormIds":
                continue
            column = kind.columns[field]
            old = getattr(member, column)
            if value == old:
                continue
            setattr(member, column, value)
            if field == "status":
                member.completed_at = now if value == "completed" else None
                action = "completed" if value == "completed" else "reopened"
                descriptions.append("to-do completed" if value == "completed" else "to-do reopened")
            else:
                descriptions.append(_describe(field, old, value))

        live_ids = [s.id for s in sessions]
        new_ids = form_ids
        added: list[str] = []
        removed: list[str] = []
        if "coachingFormIds" in body:
            new_ids = _unique(body["coachingFormIds"])
            added = [sid for sid in new_ids if sid not in form_ids]
            removed = [sid for sid in form_ids if sid not in new_ids]
            if added:
                await _sessions_for_write(db, added, actor, kind.noun)
            if added or removed or new_ids != form_ids:
                await _set_links(db, kind, member.id, new_ids)

        if not (descriptions or added or removed or new_ids != form_ids):
            return kind.render(member, form_ids)
        member.updated_at = now
        for sid in live_ids:
            if sid in removed:
                _log(db, sid, actor, f"{kind.action}_removed", [f"{kind.noun} removed from this session"], now)
            elif descriptions:
                _log(db, sid, actor, f"{kind.action}_{action}", descriptions, now)
        for sid in added:
            _log(db, sid, actor, f"{kind.action}_added", [_added_text(kind, member), *descriptions], now)
        await db.flush()
        return kind.render(member, new_ids)


async def complete_todo(request: web.Request, todo_id: str) -> dict[str, Any]:
    return await update_member(request, TODOS, todo_id, {"status": "completed"})


async def delete_member(request: web.Request, kind: MemberKind, member_id: str) -> None:
    actor, now = Actor.of(request), _now(request)
    async with request.app[DB].transaction() as db:
        member, _, sessions, controls, _ = await _load_member(db, kind, member_id, actor)
        if not controls:
            raise Forbidden(f"Only the coach of its sessions can delete this {kind.noun}.")
        member.is_deleted = True
        member.updated_at = now
        for s in sessions:
            _log(db, s.id, actor, f"{kind.action}_deleted", [f"{kind.noun} deleted"], now)

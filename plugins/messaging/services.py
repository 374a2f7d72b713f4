"""Messaging rules: who may talk to whom, membership, edit/delete, moderation, read states.

Every operation is one transaction that locks the conversation row first (so all
writes in a room are serialized and lock in one order), and every realtime event
is published only after that transaction committed (`events.py`). Callers outside
this plugin use `send_system_message` - the one public entry point for system
messages (M4) - and nothing else from here.

Who sees what (decided where the contract leaves it open):
- a conversation someone is not in: 403 on M2, on M5 with its `roomId`, on room:join;
- a message (M6/M7/M8) in a room the caller is not in: 404, as if it did not exist;
- a room member may read the room's approved messages and their own of any status.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from aiohttp import web
from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.identity import Identity
from core.auth.models import ADMIN_ROLES, User
from core.errors import BadRequest, Forbidden, NotFound, ServerError
from core.jsonutil import loads
from core.keys import CLOCK, DB, PLUGIN_MANAGER, SETTINGS

from . import schemas
from .models import (
    MESSAGE_STATUSES,
    MESSAGE_TYPES,
    ChatMessage,
    ChatModeration,
    ChatReadState,
    Conversation,
)

log = logging.getLogger("mentorkit.messaging")

# Who may send messages and typing events (§2.2): adminStudent is one way, A (the admin) only.
SENDERS = {"studentTutor": ("a", "b"), "adminStudent": ("a",), "adminTutor": ("a", "b")}
USER_MESSAGE_TYPES = frozenset({"text", "image", "document"})
ADMIN_CONVERSATIONS = frozenset({"adminStudent", "adminTutor"})


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in identity, or an admin acting for the system (M4 in process)."""

    user_id: str
    is_admin: bool
    identity: Identity | None = None

    @classmethod
    def of(cls, identity: Identity) -> "Actor":
        return cls(identity.user_id, identity.is_admin, identity)


@dataclass
class Page:
    items: list[Any]
    total: int
    page_number: int
    page_row_count: int


def now(app: web.Application) -> dt.datetime:
    return app[CLOCK].now()


# --- errors ----------------------------------------------------------------------------------------


def _conversation_not_found() -> NotFound:
    return NotFound("Conversation not found.", code="errMsg_ConversationNotFound")


def _message_not_found() -> NotFound:
    return NotFound("Chat message not found.", code="errMsg_ChatMessageNotFound")


def _not_participant() -> Forbidden:
    return Forbidden("You are not a participant of this conversation.", code="errMsg_NotAConversationParticipant")


# --- loading and membership --------------------------------------------------------------------------


async def _conversation(session: AsyncSession, conversation_id: str, *, lock: bool = False) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.is_active.is_(True))
    if lock:
        query = query.with_for_update()
    conv = await session.scalar(query)
    if conv is None:
        raise _conversation_not_found()
    return conv


def in_force(at: dt.datetime) -> ColumnElement[bool]:
    """Moderation rows in force at `at`: active and unexpired (null = permanent)."""
    return and_(
        ChatModeration.is_active.is_(True),
        or_(ChatModeration.expires_at.is_(None), ChatModeration.expires_at > at),
    )


async def moderation_of(session: AsyncSession, room_id: str, user_id: str, at: dt.datetime) -> list[ChatModeration]:
    rows = await session.scalars(
        select(ChatModeration)
        .where(ChatModeration.room_id == room_id, ChatModeration.user_id == user_id, in_force(at))
        .order_by(ChatModeration.created_at)
    )
    return list(rows)


def _check_not_blocked(rows: Sequence[ChatModeration]) -> None:
    if any(r.action == "blocked" for r in rows):
        raise Forbidden("You are blocked in this conversation.", code="errMsg_BlockedInRoom")


def _check_may_send(conv: Conversation, actor: Actor, rows: Sequence[ChatModeration]) -> None:
    """§2.2 / §2.4 checks in the contract's order: participant and direction, active, moderation."""
    if not conv.has_participant(actor.user_id):
        raise _not_participant()
    side = "a" if actor.user_id == conv.participant_a else "b"
    if side not in SENDERS[conv.conversation_type]:
        raise Forbidden("Only the admin writes in an admin notice conversation.", code="errMsg_OneWayConversation")
    if conv.status != "active":
        raise BadRequest("The conversation is closed.", code="errMsg_ConversationClosed")
    _check_not_blocked(rows)
    if any(r.action == "silenced" for r in rows):
        raise Forbidden("You are silenced in this conversation.", code="errMsg_SilencedInRoom")


async def readable_conversation(
    app: web.Application, actor: Actor, conversation_id: str, *, name: str = "roomId"
) -> Conversation:
    """M2 / room:join: participants and admins; a blocked participant is refused too."""
    schemas.check_id(conversation_id, name)
    async with app[DB].session() as session:
        conv = await _conversation(session, conversation_id)
        if not conv.has_participant(actor.user_id):
            if not actor.is_admin:
                raise _not_participant()
        else:
            _check_not_blocked(await moderation_of(session, conv.id, actor.user_id, now(app)))
    return conv


async def join_room(
    app: web.Application, actor: Actor, room_id: str
) -> tuple[Conversation, list[ChatReadState], list[ChatModeration]]:
    """room:join: the conversation, everyone's read states, the caller's own active moderation."""
    conv = await readable_conversation(app, actor, room_id)
    async with app[DB].session() as session:
        states = list(await session.scalars(select(ChatReadState).where(ChatReadState.room_id == conv.id)))
        own = await moderation_of(session, conv.id, actor.user_id, now(app))
    return conv, states, own


async def check_may_type(app: web.Application, actor: Actor, room_id: str) -> Conversation:
    """typing:start/stop: only users allowed to send in the room."""
    schemas.check_id(room_id, "roomId")
    async with app[DB].session() as session:
        conv = await _conversation(session, room_id)
        _check_may_send(conv, actor, await moderation_of(session, conv.id, actor.user_id, now(app)))
    return conv


# --- conversations ---------------------------------------------------------------------------------


async def _users(session: AsyncSession, ids: Iterable[str]) -> dict[str, User]:
    rows = await session.scalars(select(User).where(User.id.in_(list(ids)), User.is_active.is_(True)))
    return {u.id: u for u in rows}


def _check_participant_user(user: User | None, name: str, role: str) -> User:
    if user is None:
        raise BadRequest(f"{name} does not name an existing user.", code=f"errMsg_{name}NotFound")
    if user.account_status != "active":
        raise BadRequest(f"{name} is not an active account.", code=f"errMsg_{name}IsNotActive")
    wanted = ADMIN_ROLES if role == "admin" else {role}
    if user.role_id not in wanted:
        raise BadRequest(f"{name} must be a {role}.", code=f"errMsg_{name}MustBeA{role[:1].upper()}{role[1:]}")
    return user


ROLES_BY_TYPE = {"studentTutor": ("student", "tutor"), "adminStudent": ("admin", "student"), "adminTutor": ("admin", "tutor")}


async def run_conversation_checks(app: web.Application, conv: Conversation, actor: Actor | None) -> None:
    """Ask every `messaging_check_conversation` implementation; the first veto wins.

    Unlike `on_event`, a failing implementation is not swallowed: a check that
    cannot run must not let the conversation through.
    """
    hook = app[PLUGIN_MANAGER].hook.messaging_check_conversation
    kwargs = {"app": app, "conversation": conv, "actor": actor.identity if actor else None}
    for impl in hook.get_hookimpls():
        result = impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
        if inspect.isawaitable(result):
            result = await result
        if result:
            raise BadRequest(str(result), code="errMsg_ConversationNotAllowed")


async def create_conversation(app: web.Application, actor: Actor, data: dict[str, Any]) -> tuple[Conversation, bool]:
    """M1. Returns (conversation, created); an existing live one of the same type and pair is returned as is."""
    ctype = data["conversationType"]
    a_id = schemas.check_id(data["participantA"], "participantA")
    b_id = schemas.check_id(data["participantB"], "participantB")
    if ctype == "studentTutor":
        if actor.user_id not in (a_id, b_id) and not actor.is_admin:
            raise Forbidden("You may only open a conversation you take part in.", code="errMsg_NotAllowedToCreateConversation")
    else:
        if not actor.is_admin:
            raise Forbidden("Only admins open admin conversations.", code="errMsg_NotAllowedToCreateConversation")
        if a_id != actor.user_id:
            raise BadRequest("participantA must be you, the admin opening the conversation.", code="errMsg_participantAMustBeYou")
    if a_id == b_id:
        raise BadRequest("participantA and participantB must be different users.", code="errMsg_ParticipantsMustDiffer")
    async with app[DB].session() as session:
        users = await _users(session, (a_id, b_id))
    role_a, role_b = ROLES_BY_TYPE[ctype]
    user_a = _check_participant_user(users.get(a_id), "participantA", role_a)
    user_b = _check_participant_user(users.get(b_id), "participantB", role_b)
    enrollment_id = data.get("enrollmentId") if ctype == "studentTutor" else None
    return await _ensure_conversation(app, actor, ctype, user_a, user_b, enrollment_id)


async def _find_live(session: AsyncSession, ctype: str, a_id: str, b_id: str, *, lock: bool = False) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.conversation_type == ctype,
        Conversation.participant_a == a_id,
        Conversation.participant_b == b_id,
        Conversation.is_active.is_(True),
    )
    return await session.scalar(query.with_for_update() if lock else query)


async def _checked_new_conversation(
    app: web.Application, actor: Actor | None, ctype: str, user_a: User, user_b: User, enrollment_id: str | None
) -> Conversation:
    """An unsaved conversation that the `messaging_check_conversation` hooks allowed."""
    at = now(app)
    conv = Conversation(
        conversation_type=ctype,
        participant_a=user_a.id,
        participant_b=user_b.id,
        enrollment_id=enrollment_id,
        status="active",
        participant_a_name=user_a.fullname,
        participant_b_name=user_b.fullname,
        message_seq=0,
        created_by=actor.user_id if actor else user_a.id,
        is_active=True,
        record_version=1,
        created_at=at,
        updated_at=at,
    )
    await run_conversation_checks(app, conv, actor)
    return conv


async def _ensure_conversation(
    app: web.Application, actor: Actor | None, ctype: str, user_a: User, user_b: User, enrollment_id: str | None
) -> tuple[Conversation, bool]:
    db = app[DB]
    async with db.session() as session:
        existing = await _find_live(session, ctype, user_a.id, user_b.id)
    if existing is not None:
        return existing, False
    conv = await _checked_new_conversation(app, actor, ctype, user_a, user_b, enrollment_id)
    try:
        async with db.transaction() as session:
            session.add(conv)
    except IntegrityError:
        # Created concurrently: the partial unique index kept one; return that one.
        async with db.session() as session:
            existing = await _find_live(session, ctype, user_a.id, user_b.id)
        if existing is None:
            raise
        return existing, False
    return conv, True


async def get_conversation(app: web.Application, actor: Actor, conversation_id: str) -> Conversation:
    return await readable_conversation(app, actor, conversation_id, name="conversationId")


async def enrollment_joins(app: web.Application, convs: Sequence[Conversation]) -> dict[str, Any]:
    """The `enrollment` join for many conversations in one hook call (no N+1)."""
    ids = sorted({c.enrollment_id for c in convs if c.enrollment_id and c.conversation_type == "studentTutor"})
    if not ids:
        return {}
    joined: dict[str, Any] = {}
    hook = app[PLUGIN_MANAGER].hook.messaging_enrollment_info
    for impl in hook.get_hookimpls():
        kwargs = {"app": app, "enrollment_ids": ids}
        try:
            result = impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("messaging_enrollment_info failed in %s", impl.plugin_name)
            continue
        for key, value in (result or {}).items():
            joined.setdefault(key, value)
    return joined


def _enum_values(raw: list[str], allowed: tuple[str, ...], name: str) -> list[str | None]:
    """Enum filter values, matched case-insensitively; `null` means IS NULL."""
    by_lower = {v.lower(): v for v in allowed}
    out: list[str | None] = []
    for value in raw:
        if value == "null":
            out.append(None)
        elif value.lower() in by_lower:
            out.append(by_lower[value.lower()])
        else:
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}.", code=f"errMsg_{name}IsNotValid")
    return out


def _match_any(column: Any, values: list[Any]) -> ColumnElement[bool]:
    conds = [column.is_(None) if v is None else column == v for v in values]
    return or_(*conds)


async def list_my_conversations(
    app: web.Application, actor: Actor, query: Any, page_number: int, page_row_count: int
) -> tuple[Page, dict[str, int]]:
    """M3: the caller's own conversations (admins included), newest activity first."""
    from .models import CONVERSATION_STATUSES, CONVERSATION_TYPES

    me = actor.user_id
    conds: list[ColumnElement[bool]] = [
        Conversation.is_active.is_(True),
        or_(Conversation.participant_a == me, Conversation.participant_b == me),
    ]
    types = query.getall("conversationType", [])
    if types:
        conds.append(_match_any(Conversation.conversation_type, _enum_values(types, CONVERSATION_TYPES, "conversationType")))
    statuses = query.getall("status", [])
    if statuses:
        conds.append(_match_any(Conversation.status, _enum_values(statuses, CONVERSATION_STATUSES, "status")))
    stmt = select(Conversation).where(*conds).order_by(
        Conversation.last_message_at.desc().nulls_last(), Conversation.created_at.desc(), Conversation.id
    )
    async with app[DB].session() as session:
        total = await session.scalar(select(func.count()).select_from(Conversation).where(*conds)) or 0
        if page_number:
            stmt = stmt.offset((page_number - 1) * page_row_count).limit(page_row_count)
        rows = list(await session.scalars(stmt))
        unread = await unread_counts(session, me, [c.id for c in rows])
    return Page(rows, total, page_number, page_row_count), unread


async def unread_counts(session: AsyncSession, user_id: str, room_ids: Sequence[str]) -> dict[str, int]:
    """Unread messages per room for one user, in one query: active, approved, not their
    own, after their read position."""
    if not room_ids:
        return {}
    read = (
        select(ChatReadState.room_id, ChatReadState.last_read_seq)
        .where(ChatReadState.user_id == user_id, ChatReadState.room_id.in_(list(room_ids)))
        .subquery()
    )
    stmt = (
        select(ChatMessage.room_id, func.count())
        .select_from(ChatMessage)
        .outerjoin(read, read.c.room_id == ChatMessage.room_id)
        .where(
            ChatMessage.room_id.in_(list(room_ids)),
            ChatMessage.is_active.is_(True),
            ChatMessage.status == "approved",
            ChatMessage.sender_id != user_id,
            ChatMessage.seq > func.coalesce(read.c.last_read_seq, 0),
        )
        .group_by(ChatMessage.room_id)
    )
    counts = {room: 0 for room in room_ids}
    counts.update({room: int(n) for room, n in (await session.execute(stmt)).all()})
    return counts


# --- sending ---------------------------------------------------------------------------------------


def _check_message_type(conv: Conversation, actor: Actor, message_type: str) -> None:
    if message_type in USER_MESSAGE_TYPES:
        return
    if message_type == "warning" and actor.is_admin and conv.conversation_type in ADMIN_CONVERSATIONS:
        return
    raise Forbidden(f"You may not send {message_type} messages here.", code="errMsg_MessageTypeNotAllowed")


def _append(conv: Conversation, message: ChatMessage, at: dt.datetime) -> None:
    """Give `message` the room's next seq and make it the conversation's latest (conv is locked)."""
    conv.message_seq = (conv.message_seq or 0) + 1
    message.seq = conv.message_seq
    if message.status == "approved":
        conv.last_message_at = message.timestamp
        conv.last_message_preview = schemas.preview_of(message.message_type, message.content)
    conv.updated_at = at


async def send_message(
    app: web.Application,
    actor: Actor,
    room_id: str,
    message_type: str,
    content: Any,
    *,
    reply_to_id: str | None = None,
    client_msg_id: str | None = None,
) -> tuple[ChatMessage, Conversation, bool]:
    """message:send. Committed before it returns; (message, conversation, created).

    A repeated `clientMsgId` from the same sender in the same room returns the stored
    message with created=False: a client that lost the ack may resend safely.
    """
    schemas.check_id(room_id, "roomId")
    if reply_to_id is not None:
        schemas.check_id(reply_to_id, "replyTo")
    try:
        async with app[DB].transaction() as session:
            conv = await _conversation(session, room_id, lock=True)
            at = now(app)
            _check_may_send(conv, actor, await moderation_of(session, conv.id, actor.user_id, at))
            _check_message_type(conv, actor, message_type)
            clean = schemas.validate_content(message_type, content)
            if client_msg_id:
                previous = await session.scalar(
                    select(ChatMessage).where(
                        ChatMessage.room_id == conv.id,
                        ChatMessage.sender_id == actor.user_id,
                        ChatMessage.client_msg_id == client_msg_id,
                    )
                )
                if previous is not None:
                    return previous, conv, False
            reply = None
            if reply_to_id is not None:
                original = await _visible_message(session, conv.id, reply_to_id, actor)
                if original is None:
                    raise BadRequest("replyTo must name a message of this conversation.", code="errMsg_replyToNotInRoom")
                reply = {"id": original.id, "preview": schemas.preview_of(original.message_type, original.content)}
            sender = await session.get(User, actor.user_id)
            message = ChatMessage(
                room_id=conv.id,
                sender_id=actor.user_id,
                sender_name=sender.fullname if sender else None,
                sender_avatar=sender.avatar if sender else None,
                message_type=message_type,
                content=clean,
                timestamp=at,
                status="approved",
                reply_to=reply,
                client_msg_id=client_msg_id,
                is_active=True,
                record_version=1,
                created_at=at,
                updated_at=at,
            )
            _append(conv, message, at)
            session.add(message)
    except IntegrityError:
        if not client_msg_id:
            raise
        # The same clientMsgId raced in from another socket: that one was stored.
        async with app[DB].session() as session:
            previous = await session.scalar(
                select(ChatMessage).where(
                    ChatMessage.room_id == room_id,
                    ChatMessage.sender_id == actor.user_id,
                    ChatMessage.client_msg_id == client_msg_id,
                )
            )
            conv = await _conversation(session, room_id)
        if previous is None:
            raise
        return previous, conv, False
    return message, conv, True


async def send_system_message(
    app: web.Application,
    *,
    target_user_id: str,
    target_user_role: str,
    message_content: str,
    admin_id: str | None = None,
    resolution_type: str | None = None,
    complaint_id: str | None = None,
    severity: str = "warning",
    actor: Identity | None = None,
) -> tuple[Conversation, ChatMessage]:
    """M4 for other plugins' code: a `warning` message from an admin to a student or tutor.

    The admin is `admin_id` (or `actor`), else `[messaging] system_admin_id`. Finds or
    opens the admin conversation; delivers even when it is closed (its status is left
    as is). Publishes `message:new` and `conversation:updated` after the commit.
    """
    from . import events

    conv, message, _ = await _store_system_message(
        app,
        target_user_id=target_user_id,
        target_user_role=target_user_role,
        message_content=message_content,
        admin_id=admin_id or (actor.user_id if actor else None),
        resolution_type=resolution_type,
        complaint_id=complaint_id,
        severity=severity,
        actor=actor,
    )
    await events.message_new(app, message)
    await events.conversation_updated(app, conv)
    return conv, message


async def _store_system_message(
    app: web.Application,
    *,
    target_user_id: str,
    target_user_role: str,
    message_content: str,
    admin_id: str | None,
    resolution_type: str | None,
    complaint_id: str | None,
    severity: str,
    actor: Identity | None,
) -> tuple[Conversation, ChatMessage, bool]:
    schemas.check_id(target_user_id, "targetUserId")
    if target_user_role not in schemas.TARGET_ROLES:
        raise BadRequest("targetUserRole must be student or tutor.", code="errMsg_targetUserRoleIsNotValid")
    admin_id = admin_id or app[SETTINGS].section("messaging").get("system_admin_id") or None
    if not admin_id:
        raise ServerError("No acting admin and no [messaging] system_admin_id configured.", code="errMsg_NoSystemAdmin")
    content = schemas.validate_content(
        "warning",
        {"text": message_content, "severity": severity, "resolutionType": resolution_type, "complaintId": complaint_id},
    )
    async with app[DB].session() as session:
        users = await _users(session, (admin_id, target_user_id))
    admin = users.get(admin_id)
    if admin is None or not admin.is_admin:
        raise ServerError("The system admin is not an active admin user.", code="errMsg_NoSystemAdmin")
    target = users.get(target_user_id)
    if target is None:
        raise NotFound("Target user not found.", code="errMsg_UserNotFound")
    if target.role_id != target_user_role:
        raise BadRequest(
            f"The target user is not a {target_user_role}.", code="errMsg_targetUserRoleDoesNotMatch"
        )
    ctype = "adminStudent" if target_user_role == "student" else "adminTutor"
    acting = Actor(admin.id, True, actor)
    # One transaction opens the conversation (if needed) and stores the warning, so a
    # failure leaves neither. The hooks run before it (never holding the write lock); a
    # conversation opened concurrently makes the insert fail and the second pass use it.
    for attempt in range(2):
        async with app[DB].session() as session:
            existing = await _find_live(session, ctype, admin.id, target.id)
        fresh = None if existing else await _checked_new_conversation(app, acting, ctype, admin, target, None)
        try:
            return await _store_warning(app, ctype, admin, target, fresh, content)
        except (IntegrityError, _ConversationGone):
            if attempt:
                raise
    raise AssertionError("unreachable")


class _ConversationGone(Exception):
    """The conversation found before the transaction was gone inside it: start over."""


async def _store_warning(
    app: web.Application, ctype: str, admin: User, target: User, fresh: Conversation | None, content: dict[str, Any]
) -> tuple[Conversation, ChatMessage, bool]:
    async with app[DB].transaction() as session:
        conv = await _find_live(session, ctype, admin.id, target.id, lock=True)
        created = conv is None
        if conv is None:
            if fresh is None:
                raise _ConversationGone()
            conv = fresh
            session.add(conv)
            await session.flush()
        at = now(app)
        message = ChatMessage(
            room_id=conv.id,
            sender_id=admin.id,
            sender_name=admin.fullname,
            sender_avatar=admin.avatar,
            message_type="warning",
            content=content,
            timestamp=at,
            status="approved",
            is_active=True,
            record_version=1,
            created_at=at,
            updated_at=at,
        )
        _append(conv, message, at)
        session.add(message)
        await _notify_warning(app, session, target.id, conv, content, at)
    return conv, message, created


async def _notify_warning(
    app: web.Application, session: AsyncSession, user_id: str, conv: Conversation, content: dict[str, Any], at: dt.datetime
) -> None:
    """(rec) An in-app notification, in the same transaction, so offline users see the warning."""
    try:
        from core.notifications.services import notify
    except ImportError:  # a core without notifications
        return
    await notify(
        session,
        user_id=user_id,
        type="messaging.warning",
        title="A message from the platform team",
        body=content["text"][:500],
        data={"conversationId": conv.id, "severity": content["severity"]},
        email=False,
        now=at,
    )


# --- reading messages -----------------------------------------------------------------------------


def _visible_to(actor: Actor) -> ColumnElement[bool]:
    """Non-admins see approved messages and their own pending ones."""
    if actor.is_admin:
        return true()
    return or_(
        ChatMessage.status == "approved",
        and_(ChatMessage.sender_id == actor.user_id, ChatMessage.status == "pending"),
    )


async def _visible_message(session: AsyncSession, room_id: str, message_id: str, actor: Any) -> ChatMessage | None:
    """A live message of this room that the actor may see, or None."""
    return await session.scalar(
        select(ChatMessage).where(
            ChatMessage.id == message_id,
            ChatMessage.room_id == room_id,
            ChatMessage.is_active.is_(True),
            _visible_to(actor),
        )
    )


def _member_rooms(user_id: str, at: dt.datetime) -> Any:
    """Rooms a user may read: theirs, minus those they are blocked in."""
    blocked = select(ChatModeration.room_id).where(
        ChatModeration.user_id == user_id, ChatModeration.action == "blocked", in_force(at)
    )
    return select(Conversation.id).where(
        Conversation.is_active.is_(True),
        or_(Conversation.participant_a == user_id, Conversation.participant_b == user_id),
        Conversation.id.not_in(blocked),
    )


def _timestamp_range(prefix: str) -> tuple[dt.datetime, dt.datetime]:
    """`2026`, `2026-03`, `2026-03-01`, `2026-03-01T10`, `...:30`, `...:30:15` -> [start, end) UTC."""
    text = prefix.strip().rstrip("Z")
    formats = (
        ("%Y", "years"), ("%Y-%m", "months"), ("%Y-%m-%d", "days"),
        ("%Y-%m-%dT%H", "hours"), ("%Y-%m-%dT%H:%M", "minutes"), ("%Y-%m-%dT%H:%M:%S", "seconds"),
    )
    for fmt, unit in formats:
        try:
            start = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
        if unit == "years":
            end = start.replace(year=start.year + 1)
        elif unit == "months":
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            end = start + dt.timedelta(**{unit: 1})
        return start, end
    raise BadRequest("timestamp must be an ISO date or date-time prefix, e.g. 2026-03-01.", code="errMsg_timestampIsNotValid")


def _json_values(raw: list[str], name: str) -> list[Any]:
    """Parsed JSON filter values; the column type binds them in canonical form (sorted keys)."""
    out: list[Any] = []
    for value in raw:
        if value == "null":
            out.append(None)
            continue
        try:
            out.append(loads(value))
        except ValueError:
            raise BadRequest(f"{name} must be a JSON value.", code=f"errMsg_{name}IsNotValid") from None
    return out


def _id_values(raw: list[str], name: str) -> list[str | None]:
    return [None if v == "null" else schemas.check_id(v, name) for v in raw]


def _partial(column: Any, raw: list[str]) -> ColumnElement[bool]:
    return or_(*[column.is_(None) if v == "null" else column.icontains(v, autoescape=True) for v in raw])


async def list_messages(
    app: web.Application, actor: Actor, query: Any, page_number: int, page_row_count: int
) -> Page:
    """M5, and the resync `after=<messageId>` (that room's newer messages, oldest first)."""
    at = now(app)
    rooms = _id_values(query.getall("roomId", []) + query.getall("conversationId", []), "roomId")
    after_id = query.get("after")
    conds: list[ColumnElement[bool]] = [ChatMessage.is_active.is_(True), _visible_to(actor)]
    async with app[DB].session() as session:
        after_seq = None
        if after_id is not None:
            schemas.check_id(after_id, "after")
            cursor = (await session.execute(
                select(ChatMessage.room_id, ChatMessage.seq).where(ChatMessage.id == after_id)
            )).first()
            if cursor is None:
                raise NotFound("The `after` message does not exist.", code="errMsg_afterMessageNotFound")
            if not rooms:
                rooms = [cursor.room_id]
            if rooms != [cursor.room_id]:
                raise BadRequest("`after` must name a message of the one conversation asked for.", code="errMsg_afterNotInRoom")
            after_seq = cursor.seq
        if rooms:
            if not actor.is_admin:
                real = [r for r in rooms if r is not None]
                allowed = set(await session.scalars(_member_rooms(actor.user_id, at).where(Conversation.id.in_(real))))
                if any(r not in allowed for r in real):
                    raise _not_participant()
            conds.append(_match_any(ChatMessage.room_id, rooms))
        elif not actor.is_admin:
            conds.append(ChatMessage.room_id.in_(_member_rooms(actor.user_id, at)))
        if after_seq is not None:
            conds.append(ChatMessage.seq > after_seq)
        conds.extend(_message_filters(query))
        total = await session.scalar(select(func.count()).select_from(ChatMessage).where(*conds)) or 0
        if after_seq is not None:
            order = (ChatMessage.seq.asc(),)
        else:
            order = (ChatMessage.timestamp.desc(), ChatMessage.seq.desc(), ChatMessage.id)  # type: ignore[assignment]
        stmt = select(ChatMessage).where(*conds).order_by(*order)
        if page_number:
            stmt = stmt.offset((page_number - 1) * page_row_count).limit(page_row_count)
        rows = list(await session.scalars(stmt))
    return Page(rows, total, page_number, page_row_count)


def _message_filters(query: Any) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    senders = query.getall("senderId", [])
    if senders:
        conds.append(_match_any(ChatMessage.sender_id, _id_values(senders, "senderId")))
    for name, column in (("senderName", ChatMessage.sender_name), ("senderAvatar", ChatMessage.sender_avatar)):
        values = query.getall(name, [])
        if values:
            conds.append(_partial(column, values))
    for name, column, allowed in (
        ("messageType", ChatMessage.message_type, MESSAGE_TYPES),
        ("status", ChatMessage.status, MESSAGE_STATUSES),
    ):
        values = query.getall(name, [])
        if values:
            conds.append(_match_any(column, _enum_values(values, allowed, name)))
    for name, column in (("content", ChatMessage.content), ("replyTo", ChatMessage.reply_to)):
        values = query.getall(name, [])
        if values:
            conds.append(_match_any(column, _json_values(values, name)))
    stamps = query.getall("timestamp", [])
    if stamps:
        ranges = []
        for value in stamps:
            if value == "null":
                ranges.append(false())
                continue
            start, end = _timestamp_range(value)
            ranges.append(and_(ChatMessage.timestamp >= start, ChatMessage.timestamp < end))
        conds.append(or_(*ranges))
    return conds


async def _message_for(
    session: AsyncSession, app: web.Application, actor: Actor, message_id: str, *, lock_room: bool = False
) -> tuple[ChatMessage, Conversation, list[ChatModeration]]:
    """A message the actor may see, with its room (locked for writes) and the actor's moderation there.

    Not a member (and not an admin), or a message hidden from them: 404. Blocked: 403.
    """
    schemas.check_id(message_id, "id")
    message = await session.get(ChatMessage, message_id)
    if message is None:
        raise _message_not_found()
    conv = await session.scalar(
        select(Conversation).where(Conversation.id == message.room_id).with_for_update()
        if lock_room else select(Conversation).where(Conversation.id == message.room_id)
    )
    if lock_room:
        await session.refresh(message)  # re-read under the room lock
    if conv is None:
        raise _message_not_found()
    member = conv.is_active and conv.has_participant(actor.user_id)
    if not (member or actor.is_admin):
        raise _message_not_found()
    own = message.sender_id == actor.user_id
    if not actor.is_admin and not own and not (message.is_active and message.status == "approved"):
        raise _message_not_found()
    rows = await moderation_of(session, conv.id, actor.user_id, now(app)) if member else []
    _check_not_blocked(rows)
    return message, conv, rows


async def get_message(app: web.Application, actor: Actor, message_id: str) -> ChatMessage:
    """M6: members and admins; the sender sees their own message in any state."""
    async with app[DB].session() as session:
        message, _, _ = await _message_for(session, app, actor, message_id)
    return message


async def _refresh_latest(session: AsyncSession, conv: Conversation) -> None:
    """Recompute lastMessageAt/Preview from the newest active approved message."""
    latest = await session.scalar(
        select(ChatMessage)
        .where(ChatMessage.room_id == conv.id, ChatMessage.is_active.is_(True), ChatMessage.status == "approved")
        .order_by(ChatMessage.seq.desc())
        .limit(1)
    )
    conv.last_message_at = latest.timestamp if latest else None
    conv.last_message_preview = schemas.preview_of(latest.message_type, latest.content) if latest else None


async def delete_message(app: web.Application, actor: Actor, message_id: str) -> tuple[ChatMessage, Conversation]:
    """M7: soft delete by an admin (any message) or the sender (own; warnings and system messages: admins only;
    not in a closed conversation, which is read-only for its members)."""
    async with app[DB].transaction() as session:
        message, conv, _ = await _message_for(session, app, actor, message_id, lock_room=True)
        if not message.is_active:
            raise _message_not_found()
        if not actor.is_admin:
            if message.sender_id != actor.user_id:
                raise Forbidden("Only the sender or an admin may delete this message.", code="errMsg_NotMessageSender")
            if message.message_type not in USER_MESSAGE_TYPES:
                raise Forbidden("Only admins delete warnings and system messages.", code="errMsg_OnlyAdminsDeleteThisMessage")
            if conv.status != "active":
                raise BadRequest("The conversation is closed.", code="errMsg_ConversationClosed")
        at = now(app)
        message.is_active = False
        message.record_version += 1
        message.updated_at = at
        await session.flush()
        await _refresh_latest(session, conv)
    return message, conv


async def update_message(
    app: web.Application, actor: Actor, message_id: str, changes: dict[str, Any]
) -> tuple[ChatMessage, Conversation, bool]:
    """M8: content by the sender or an admin; status (moderation) by admins only.

    Returns (message, conversation, changed); an edit that changes nothing is not a new version.
    """
    async with app[DB].transaction() as session:
        message, conv, rows = await _message_for(session, app, actor, message_id, lock_room=True)
        if not message.is_active:
            raise _message_not_found()
        if not actor.is_admin:
            if message.sender_id != actor.user_id:
                raise Forbidden("Only the sender or an admin may edit this message.", code="errMsg_NotMessageSender")
            if "status" in changes:
                raise Forbidden("Only admins change a message's moderation status.", code="errMsg_OnlyAdminsModerate")
            if conv.status != "active":
                raise BadRequest("The conversation is closed.", code="errMsg_ConversationClosed")
            if any(r.action == "silenced" for r in rows):
                raise Forbidden("You are silenced in this conversation.", code="errMsg_SilencedInRoom")
        changed = False
        if "content" in changes:
            content = schemas.validate_content(message.message_type, changes["content"])
            if content != message.content:
                message.content = content
                changed = True
        if "status" in changes and changes["status"] != message.status:
            message.status = changes["status"]
            changed = True
        if changed:
            message.record_version += 1
            message.updated_at = now(app)
            await session.flush()
            await _refresh_latest(session, conv)
    return message, conv, changed


# --- read receipts ---------------------------------------------------------------------------------


async def mark_read(
    app: web.Application, actor: Actor, room_id: str, message_id: str
) -> tuple[ChatReadState, Conversation, bool]:
    """message:read: any participant (also in closed rooms); moves forward only.

    Returns (state, conversation, moved).
    """
    schemas.check_id(room_id, "roomId")
    schemas.check_id(message_id, "messageId")
    for attempt in range(2):
        try:
            async with app[DB].transaction() as session:
                conv = await _conversation(session, room_id, lock=True)
                if not conv.has_participant(actor.user_id):
                    raise _not_participant()
                at = now(app)
                _check_not_blocked(await moderation_of(session, conv.id, actor.user_id, at))
                message = await _visible_message(session, conv.id, message_id, actor)
                if message is None:
                    raise _message_not_found()
                state = await session.scalar(
                    select(ChatReadState)
                    .where(ChatReadState.room_id == conv.id, ChatReadState.user_id == actor.user_id)
                    .with_for_update()
                )
                if state is None:
                    state = ChatReadState(
                        room_id=conv.id, user_id=actor.user_id, last_read_message_id=message.id,
                        last_read_seq=message.seq, last_read_at=at,
                    )
                    session.add(state)
                    return state, conv, True
                if message.seq <= state.last_read_seq:
                    return state, conv, False
                state.last_read_message_id = message.id
                state.last_read_seq = message.seq
                state.last_read_at = max(at, state.last_read_at)
                return state, conv, True
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


# --- moderation ------------------------------------------------------------------------------------


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("Only admins moderate conversations.", code="errMsg_OnlyAdminsModerate")


async def apply_moderation(app: web.Application, actor: Actor, data: dict[str, Any]) -> tuple[ChatModeration, Conversation]:
    """moderation:apply: block or silence a participant; duration 0 = permanent."""
    _require_admin(actor)
    schemas.check_id(data["roomId"], "roomId")
    user_id = schemas.check_id(data["userId"], "userId")
    async with app[DB].transaction() as session:
        conv = await _conversation(session, data["roomId"], lock=True)
        if not conv.has_participant(user_id):
            raise BadRequest("userId is not a participant of this conversation.", code="errMsg_userIdIsNotAParticipant")
        at = now(app)
        duration = data["duration"]
        row = ChatModeration(
            room_id=conv.id,
            user_id=user_id,
            action=data["action"],
            reason=data.get("reason"),
            duration=duration,
            expires_at=at + dt.timedelta(seconds=duration) if duration else None,
            issued_by=actor.user_id,
            is_active=True,
            record_version=1,
            created_at=at,
            updated_at=at,
        )
        session.add(row)
    return row, conv


async def lift_moderation(app: web.Application, actor: Actor, room_id: str, user_id: str) -> list[ChatModeration]:
    """moderation:lift: end every block and silence in force for the user in the room."""
    _require_admin(actor)
    schemas.check_id(room_id, "roomId")
    schemas.check_id(user_id, "userId")
    async with app[DB].transaction() as session:
        conv = await _conversation(session, room_id, lock=True)
        at = now(app)
        rows = list(await session.scalars(
            select(ChatModeration).where(ChatModeration.room_id == conv.id, ChatModeration.user_id == user_id, in_force(at))
        ))
        if not rows:
            raise NotFound("No moderation in force for this user here.", code="errMsg_NoActiveModeration")
        for row in rows:
            row.is_active = False
            row.record_version += 1
            row.updated_at = at
    return rows


"""Identity rules: users, sessions, roles, passwords and API tokens.

Routes (core.auth.views), the CLI, the bootstrap and the testing kit all go
through these, so a user made by a test is made exactly as a registered one.
Every change is one transaction that locks the target row first (PostgreSQL
`FOR UPDATE`; SQLite's write transaction is already exclusive), so concurrent
admins serialize instead of overwriting each other, and every rule is checked
against the row as it is at write time.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any, Sequence

from aiohttp import web
from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..errors import BadRequest, Forbidden, NotFound, Unauthorized
from ..keys import AUTH, CLOCK, DB, RATE_LIMITER, SETTINGS
from ..plugins import emit
from .identity import Identity
from .models import ADMIN_ROLES, ApiToken, AuthSession, User
from .passwords import DUMMY_HASH, MIN_LENGTH, hash_password, verify_password
from .tokens import hash_api_token, issue_access_token, new_api_token

log = logging.getLogger("mentorkit.auth")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PROFILE_FIELDS = (
    "fullname", "avatar", "certifications", "qualifications", "bio", "specializations", "application_documents",
)
LOGIN_BUCKET = "login"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def parse_id(value: str, param: str) -> str:
    """A path id in canonical form, or 400 `errMsg_<param>isNotAValidID`."""
    if not _UUID.match(value or ""):
        raise BadRequest(f"{param} is not a valid ID.", code=f"errMsg_{param}isNotAValidID")
    return value.lower()


def random_avatar() -> str:
    """A random identicon URL, TutorHub's default when a user gives no avatar."""
    return f"https://www.gravatar.com/avatar/{secrets.token_hex(32)}?d=identicon&s=256"


def _user_not_found() -> NotFound:
    return NotFound("User not found.", code="errMsg_UserNotFound")


def _check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_LENGTH} characters.", code="errMsg_PasswordTooShort")


# --- users ------------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    fullname: str,
    role: str = "student",
    **fields: object,
) -> User:
    """Insert a user; a duplicate email (also one inserted concurrently) is a 400 `errMsg_UserEmailAlreadyExists`."""
    _check_password_policy(password)
    email = normalize_email(email)
    exists = (await session.execute(select(User.id).where(User.email == email))).first()
    if exists:
        raise _duplicate_email()
    user = User(email=email, password_hash=await hash_password(password), fullname=fullname, role_id=role, **fields)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise _duplicate_email() from None
    return user


def _duplicate_email() -> BadRequest:
    return BadRequest("A user with this email already exists.", code="errMsg_UserEmailAlreadyExists")


async def register_user(app: web.Application, data: dict[str, Any], *, actor: Identity | None = None) -> User:
    """Self-registration and admin creation: always a `student` (TutorHub's `user`), never logged in."""
    data = dict(data)
    if not actor:
        data.pop("application_review_note", None)
    if not data.get("avatar"):
        data["avatar"] = random_avatar()
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        user = await create_user(session, role="student", created_at=now, updated_at=now, **data)
    await emit(app, "user.created", {"userId": user.id, "roleId": user.role_id, "actorId": actor.user_id if actor else None})
    return user


async def get_user(app: web.Application, user_id: str) -> User:
    """An active user, or 404 (soft-deleted users are gone for every route)."""
    async with app[DB].session() as session:
        user = await session.scalar(select(User).where(User.id == user_id, User.is_active.is_(True)))
    if user is None:
        raise _user_not_found()
    return user


async def _locked_user(session: AsyncSession, user_id: str) -> User:
    user = await session.scalar(
        select(User).where(User.id == user_id, User.is_active.is_(True)).with_for_update()
    )
    if user is None:
        raise _user_not_found()
    return user


def _apply(user: User, changes: dict[str, Any], now: dt.datetime) -> bool:
    """Set the changed attributes; a real change bumps `recordVersion` and `updatedAt`."""
    changed = False
    for name, value in changes.items():
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed = True
    if changed:
        user.record_version += 1
        user.updated_at = now
    return changed


def _require_manageable(actor: Identity, target: User) -> None:
    """An `admin` may not act on another admin or a superAdmin; only a `superAdmin` may."""
    if actor.role != "superAdmin" and target.role_id in ADMIN_ROLES and target.id != actor.user_id:
        raise Forbidden("Only a superAdmin can manage admin accounts.", code="errMsg_OnlySuperAdminCanManageAdmins")


async def revoke_credentials(
    session: AsyncSession,
    user_id: str,
    *,
    now: dt.datetime,
    keep_session: str | None = None,
    api_tokens: bool = True,
) -> None:
    """Revoke a user's live sessions (all but `keep_session`) and, unless told not to, API tokens."""
    conditions = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
    if keep_session:
        conditions.append(AuthSession.id != keep_session)
    await session.execute(update(AuthSession).where(*conditions).values(revoked_at=now))
    if api_tokens:
        await session.execute(
            update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        )


async def revoke_sessions(session: AsyncSession, user_id: str, *, now: dt.datetime) -> None:
    """Revoke every live session of a user: their tokens stop working on the next request."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def update_user(app: web.Application, actor: Identity, user_id: str, changes: dict[str, Any]) -> User:
    """U2: an admin edits a user. Suspending or banning revokes the user's sessions and tokens."""
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        super_admins = await _lock_super_admins(session, actor)
        user = await _locked_user(session, user_id)
        _require_manageable(actor, user)
        old_status = user.account_status
        new_status = changes.get("account_status", old_status)
        if new_status != old_status and user.id == actor.user_id:
            raise Forbidden("You cannot change your own account status.", code="errMsg_CannotChangeOwnStatus")
        if new_status != "active":
            _refuse_last_super_admin(super_admins, user)
        _apply(user, changes, now)
        if new_status != old_status and new_status != "active":
            await revoke_credentials(session, user.id, now=now)
    if new_status != old_status:
        await emit(app, "user.status_changed", {
            "userId": user.id, "oldStatus": old_status, "newStatus": new_status, "actorId": actor.user_id,
        })
    return user


async def update_profile(app: web.Application, actor: Identity, user_id: str, changes: dict[str, Any]) -> User:
    """U3: users edit their own profile fields (the schema has already refused admin-only ones)."""
    if user_id != actor.user_id:
        raise Forbidden("You can only update your own profile.")
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        user = await _locked_user(session, user_id)
        _apply(user, {k: v for k, v in changes.items() if k in PROFILE_FIELDS}, now)
    return user


async def delete_user(app: web.Application, actor: Identity, user_id: str) -> User:
    """U5: an admin soft-deletes someone else's account."""
    if user_id == actor.user_id:
        raise Forbidden("You cannot delete your own account here; use DELETE /v1/archiveprofile/{userId}.",
                        code="errMsg_CannotDeleteYourself")
    return await _deactivate(app, actor, user_id, archived=False)


async def archive_profile(app: web.Application, actor: Identity, user_id: str) -> User:
    """U6: users soft-delete their own account; the last superAdmin cannot."""
    if user_id != actor.user_id:
        raise Forbidden("You can only archive your own profile.")
    return await _deactivate(app, actor, user_id, archived=True)


async def _deactivate(app: web.Application, actor: Identity, user_id: str, *, archived: bool) -> User:
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        super_admins = await _lock_super_admins(session, actor)
        user = await _locked_user(session, user_id)
        _require_manageable(actor, user)
        _refuse_last_super_admin(super_admins, user)
        _apply(user, {"is_active": False}, now)
        await revoke_credentials(session, user.id, now=now)
    await emit(app, "user.deleted", {"userId": user.id, "actorId": actor.user_id, "archived": archived})
    return user


async def _lock_super_admins(session: AsyncSession, actor: Identity) -> list[str] | None:
    """When a superAdmin acts, lock the active superAdmin rows (in id order, so concurrent
    guards queue instead of deadlocking) before the target row.

    Only a superAdmin can remove a superAdmin, so this is what keeps two of them who
    demote, ban or delete each other at the same moment from leaving none. An actor who
    lost the role while the request was in flight is refused.
    """
    if actor.role != "superAdmin":
        return None
    ids = list(
        (
            await session.scalars(
                select(User.id)
                .where(User.role_id == "superAdmin", User.is_active.is_(True), User.account_status == "active")
                .order_by(User.id)
                .with_for_update()
            )
        ).all()
    )
    if actor.user_id not in ids:
        raise Forbidden("You are no longer an active superAdmin.")
    return ids


def _refuse_last_super_admin(super_admins: list[str] | None, target: User) -> None:
    """`target` is about to stop being an active superAdmin: someone must remain."""
    if super_admins is not None and target.id in super_admins and len(super_admins) <= 1:
        raise Forbidden("The last superAdmin cannot be removed; make another superAdmin first.", code="errMsg_LastSuperAdmin")


async def change_role(app: web.Application, actor: Identity, user_id: str, role: str) -> User:
    """U9: nobody changes their own role; only a superAdmin grants or revokes admin roles.

    The target's sessions and API tokens are revoked so the new role is what every
    credential carries from now on.
    """
    if user_id == actor.user_id:
        raise Forbidden("You cannot change your own role.", code="errMsg_CannotChangeOwnRole")
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        super_admins = await _lock_super_admins(session, actor)
        user = await _locked_user(session, user_id)
        old_role = user.role_id
        if actor.role != "superAdmin" and (old_role in ADMIN_ROLES or role in ADMIN_ROLES):
            raise Forbidden("Only a superAdmin can grant or revoke admin roles.", code="errMsg_OnlySuperAdminCanManageAdmins")
        if role != "superAdmin":
            _refuse_last_super_admin(super_admins, user)
        if _apply(user, {"role_id": role}, now):
            await revoke_credentials(session, user.id, now=now)
    if old_role != role:
        await emit(app, "user.role_changed", {
            "userId": user.id, "oldRoleId": old_role, "newRoleId": role, "actorId": actor.user_id,
        })
    return user


async def change_own_password(app: web.Application, actor: Identity, user_id: str, old: str, new: str) -> User:
    """U10: self, with the old password; the caller's other sessions are signed out."""
    if user_id != actor.user_id:
        raise Forbidden("You can only change your own password.")
    _check_password_policy(new)
    new_hash = await hash_password(new)
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        user = await _locked_user(session, user_id)
        if not await verify_password(user.password_hash, old):
            raise Forbidden("The old password does not match.", code="errMsg_OldPasswordDoesNotMatch")
        _apply(user, {"password_hash": new_hash}, now)
        await revoke_credentials(session, user.id, now=now, keep_session=actor.session_id, api_tokens=False)
    return user


async def set_password_by_admin(app: web.Application, actor: Identity, user_id: str, password: str) -> User:
    """U11: superAdmin sets anyone's password, admin only non-admins'; the target is signed out."""
    _check_password_policy(password)
    new_hash = await hash_password(password)
    now = app[CLOCK].now()
    async with app[DB].transaction() as session:
        user = await _locked_user(session, user_id)
        if actor.role != "superAdmin" and user.role_id in ADMIN_ROLES:
            raise Forbidden("Only a superAdmin can change an admin's password.", code="errMsg_OnlySuperAdminCanManageAdmins")
        _apply(user, {"password_hash": new_hash}, now)
        keep = actor.session_id if user.id == actor.user_id else None
        await revoke_credentials(session, user.id, now=now, keep_session=keep, api_tokens=False)
    return user


@dataclass(frozen=True)
class UserFilters:
    """§1.7 filters: each name maps to its values (OR); filters combine with AND."""

    email: Sequence[str] = ()
    fullname: Sequence[str] = ()
    role_id: Sequence[str] = ()
    keyword: str | None = None


def _partial(column: Any, values: Sequence[str]) -> ColumnElement[bool] | None:
    terms = []
    for value in values:
        if value == "null":
            terms.append(column.is_(None))
        elif value.strip():
            terms.append(func.lower(column).contains(value.strip().lower(), autoescape=True))
    return or_(*terms) if terms else None


def _filtered(stmt: Select[Any], filters: UserFilters) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = [User.is_active.is_(True)]
    for column, values in ((User.email, filters.email), (User.fullname, filters.fullname), (User.role_id, filters.role_id)):
        term = _partial(column, values)
        if term is not None:
            conditions.append(term)
    if filters.keyword is not None:
        needle = filters.keyword.lower()
        conditions.append(or_(
            func.lower(User.email).contains(needle, autoescape=True),
            func.lower(User.fullname).contains(needle, autoescape=True),
        ))
    return stmt.where(and_(*conditions))


async def list_users(app: web.Application, filters: UserFilters, page: int, rows: int) -> tuple[list[User], int]:
    """One page (or all rows when `page` is 0), oldest first, and the total count."""
    async with app[DB].session() as session:
        total = await session.scalar(_filtered(select(func.count()).select_from(User), filters))
        stmt = _filtered(select(User), filters).order_by(User.created_at, User.id)
        if page:
            stmt = stmt.offset((page - 1) * rows).limit(rows)
        users = list((await session.scalars(stmt)).all())
    return users, int(total or 0)


# --- sessions ---------------------------------------------------------------------------------


async def open_session(
    app: web.Application,
    user: User,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    session: AsyncSession | None = None,
) -> tuple[AuthSession, str, dt.datetime]:
    """A server-side session and its signed access token (in `session`'s transaction when given)."""
    ttl = app[SETTINGS].auth.access_token_ttl
    now = utcnow()  # real time: PyJWT checks `exp` against it too
    auth_session = AuthSession(
        user_id=user.id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl),
        ip_address=ip,
        user_agent=(user_agent or "")[:512] or None,
    )
    if session is None:
        async with app[DB].transaction() as own:
            own.add(auth_session)
    else:
        session.add(auth_session)
        await session.flush()
    token, expires = issue_access_token(
        app[AUTH].keys, user_id=user.id, session_id=auth_session.id, role=user.role_id, ttl=ttl
    )
    return auth_session, token, expires


async def _limit_login(app: web.Application, ip: str | None, email: str) -> None:
    """Brute-force limit: per client IP and per account, counted separately."""
    limiter = app.get(RATE_LIMITER)
    if limiter is None:
        return
    await limiter.hit_key(LOGIN_BUCKET, f"login:ip:{ip or 'unknown'}")
    await limiter.hit_key(LOGIN_BUCKET, f"login:account:{email}")


async def login(
    app: web.Application, username: str | None, password: str | None, *, ip: str | None, user_agent: str | None
) -> tuple[User, AuthSession, str]:
    """S2: 400 missing, 401 wrong or inactive, 403 suspended or banned, else a new session."""
    if not username or not password:
        raise BadRequest("Username (email) and password are required.", code="errMsg_CredentialsMissing")
    email = normalize_email(username)
    await _limit_login(app, ip, email)
    async with app[DB].session() as session:
        user = await session.scalar(select(User).where(User.email == email))
    # Verify even for an unknown email, so the answer time does not reveal which emails exist.
    matches = await verify_password(user.password_hash if user else DUMMY_HASH, password)
    if user is None or not matches:
        raise Unauthorized("Invalid username or password.", code="errMsg_InvalidCredentials")
    async with app[DB].transaction() as session:
        # Re-read under a share lock: a ban committed while the password was being checked wins.
        user = await session.scalar(select(User).where(User.id == user.id).with_for_update(read=True, key_share=True))
        if user is None or not user.is_active:
            raise Unauthorized("This account is no longer active.", code="errMsg_UserIsNotActive")
        if user.account_status != "active":
            raise Forbidden(f"This account is {user.account_status}.", code=f"errMsg_Account{user.account_status.title()}")
        auth_session, token, _ = await open_session(app, user, ip=ip, user_agent=user_agent, session=session)
    return user, auth_session, token


async def relogin(
    app: web.Application, identity: Identity, *, ip: str | None, user_agent: str | None
) -> tuple[User, AuthSession, str]:
    """S5: revoke the presented session and open a new one from fresh user data, atomically.

    The conditional revoke makes two relogins with one token yield one new session.
    """
    cannot = Unauthorized("Cannot relogin", code="errMsg_CannotRelogin")
    if identity.session_id is None:
        raise cannot
    async with app[DB].transaction() as session:
        # The user row first, as every user change does, so relogin and (say) a ban queue
        # on the same lock instead of deadlocking over the session row.
        user = await session.scalar(
            select(User).where(User.id == identity.user_id).with_for_update(read=True, key_share=True)
        )
        if user is None or not user.can_log_in:
            raise cannot
        revoked = await session.execute(
            update(AuthSession)
            .where(AuthSession.id == identity.session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if revoked.rowcount != 1:  # type: ignore[attr-defined]
            raise cannot
        auth_session, token, _ = await open_session(app, user, ip=ip, user_agent=user_agent, session=session)
    return user, auth_session, token


async def logout(app: web.Application, identity: Identity | None) -> None:
    """S3: revoke the caller's session if there is one; idempotent."""
    if identity is None or identity.session_id is None:
        return
    async with app[DB].transaction() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == identity.session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


async def current_session(app: web.Application, identity: Identity) -> tuple[User, AuthSession]:
    async with app[DB].session() as session:
        row = (
            await session.execute(
                select(User, AuthSession)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.id == identity.session_id)
            )
        ).first()
    if row is None:
        raise Unauthorized("No login found", code="errMsg_NoLoginFound")
    return row[0], row[1]


# --- API tokens -------------------------------------------------------------------------------


def _api_token_not_found() -> NotFound:
    return NotFound("API token not found.", code="errMsg_ApiTokenNotFound")


async def create_api_token(app: web.Application, actor: Identity, name: str, days: int | None) -> tuple[ApiToken, str]:
    """A token acting as `actor`; its plaintext is returned here once and only its hash is kept."""
    plaintext = new_api_token()
    now = utcnow()  # compared with real time by the authenticator, like session expiry
    token = ApiToken(
        name=name,
        token_hash=hash_api_token(plaintext),
        user_id=actor.user_id,
        created_at=now,
        expires_at=now + dt.timedelta(days=days or app[SETTINGS].auth.api_token_days),
    )
    async with app[DB].transaction() as session:
        session.add(token)
    return token, plaintext


def _visible_tokens(actor: Identity) -> list[ColumnElement[bool]]:
    """Admins see their own tokens; a superAdmin sees every token."""
    return [] if actor.role == "superAdmin" else [ApiToken.user_id == actor.user_id]


async def list_api_tokens(app: web.Application, actor: Identity, page: int, rows: int) -> tuple[list[ApiToken], int]:
    async with app[DB].session() as session:
        conditions = _visible_tokens(actor)
        total = await session.scalar(select(func.count()).select_from(ApiToken).where(*conditions))
        stmt = select(ApiToken).where(*conditions).order_by(ApiToken.created_at.desc(), ApiToken.id)
        if page:
            stmt = stmt.offset((page - 1) * rows).limit(rows)
        tokens = list((await session.scalars(stmt)).all())
    return tokens, int(total or 0)


async def revoke_api_token(app: web.Application, actor: Identity, token_id: str) -> ApiToken:
    """Revoke a live token the actor may see; another admin's or an already revoked one is a 404."""
    async with app[DB].transaction() as session:
        token = await session.scalar(
            select(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None), *_visible_tokens(actor))
            .with_for_update()
        )
        if token is None:
            raise _api_token_not_found()
        token.revoked_at = utcnow()
    return token

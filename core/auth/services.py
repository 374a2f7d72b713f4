"""Identity rules other code calls: create users, open and revoke sessions.

Routes (core.auth.views), the CLI and the testing kit all go through these, so a
user made by a test is made exactly as a registered one.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..errors import BadRequest
from ..keys import AUTH, DB, SETTINGS
from .models import AuthSession, User
from .passwords import MIN_LENGTH, hash_password
from .tokens import issue_access_token


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    fullname: str,
    role: str = "student",
    **fields: object,
) -> User:
    """Insert a user; a duplicate email is a 400 `errMsg_UserEmailAlreadyExists`."""
    if len(password) < MIN_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_LENGTH} characters.", code="errMsg_PasswordTooShort")
    email = normalize_email(email)
    exists = (await session.execute(select(User.id).where(User.email == email))).first()
    if exists:
        raise BadRequest("A user with this email already exists.", code="errMsg_UserEmailAlreadyExists")
    user = User(email=email, password_hash=await hash_password(password), fullname=fullname, role_id=role, **fields)
    session.add(user)
    await session.flush()
    return user


async def open_session(
    app: web.Application, user: User, *, ip: str | None = None, user_agent: str | None = None
) -> tuple[AuthSession, str, dt.datetime]:
    """A server-side session and its signed access token."""
    ttl = app[SETTINGS].auth.access_token_ttl
    now = utcnow()  # real time: PyJWT checks `exp` against it too
    auth_session = AuthSession(
        user_id=user.id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl),
        ip_address=ip,
        user_agent=(user_agent or "")[:512] or None,
    )
    async with app[DB].transaction() as session:
        session.add(auth_session)
    token, expires = issue_access_token(
        app[AUTH].keys, user_id=user.id, session_id=auth_session.id, role=user.role_id, ttl=ttl
    )
    return auth_session, token, expires


async def revoke_sessions(session: AsyncSession, user_id: str, *, now: dt.datetime) -> None:
    """Revoke every live session of a user: their tokens stop working on the next request."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )

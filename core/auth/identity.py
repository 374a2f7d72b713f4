"""Who is calling: token lookup in the contract's order, then the route's access rule.

Token locations, first found wins: query `access_token`, `Authorization: Bearer`,
header `mentorkit-access-token`, cookie `mentorkit-access-token`. The `apiToken`
header (or a Bearer value with the API token prefix) is an API token. Every
authenticated request reads its session (or API token) row, joined with the
user, in one indexed query: that is the price of revocation taking effect at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import bindparam, or_, select, update

from ..db import Database, utcnow
from ..errors import Forbidden, Unauthorized
from ..routing import Access
from .models import ADMIN_ROLES, ApiToken, AuthSession, User
from .permissions import PermissionRegistry
from .tokens import API_TOKEN_PREFIX, JwtKeys, decode_access_token, hash_api_token

TOKEN_NAME = "mentorkit-access-token"
API_TOKEN_HEADER = "apiToken"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: str
    email: str
    fullname: str
    permissions: frozenset[str]
    session_id: str | None = None
    api_token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def via_api_token(self) -> bool:
        return self.api_token_id is not None

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def find_token(request: web.Request) -> tuple[str, str] | None:
    """("jwt" | "api", token) from the first location that has one."""
    api = request.headers.get(API_TOKEN_HEADER)
    if api:
        return "api", api.strip()
    candidates = (
        request.query.get("access_token"),
        _bearer(request.headers.get("Authorization")),
        request.headers.get(TOKEN_NAME),
        request.cookies.get(TOKEN_NAME),
    )
    for token in candidates:
        if token:
            token = token.strip()
            return ("api" if token.startswith(API_TOKEN_PREFIX) else "jwt"), token
    return None


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:]
    return None


# Built once: every authenticated request runs it.
_SESSION_AND_USER = (
    select(
        AuthSession.revoked_at,
        AuthSession.expires_at,
        User.id,
        User.role_id,
        User.email,
        User.fullname,
        User.is_active,
        User.account_status,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.id == bindparam("sid"), AuthSession.user_id == bindparam("sub"))
)


_API_TOKEN_AND_USER = (
    select(
        ApiToken.id.label("token_id"),
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.id,
        User.role_id,
        User.email,
        User.fullname,
        User.is_active,
        User.account_status,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


class Authenticator:
    def __init__(self, db: Database, keys: JwtKeys, permissions: PermissionRegistry) -> None:
        self.db = db
        self.keys = keys
        self.permissions = permissions

    def _identity(self, user: Any, *, session_id: str | None = None, api_token_id: str | None = None) -> Identity:
        return Identity(
            user_id=user.id,  # a User or a row with the same column names
            role=user.role_id,
            email=user.email,
            fullname=user.fullname,
            permissions=self.permissions.for_role(user.role_id),
            session_id=session_id,
            api_token_id=api_token_id,
        )

    async def from_jwt(self, token: str) -> Identity | None:
        """Every authenticated request runs this, so it reads plain columns with Core."""
        claims = decode_access_token(self.keys, token)
        if claims is None:
            return None
        async with self.db.read_connection() as conn:
            row = (await conn.execute(_SESSION_AND_USER, {"sid": claims["sid"], "sub": claims["sub"]})).first()
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            return None
        if not row.is_active or row.account_status != "active":
            return None
        return self._identity(row, session_id=claims["sid"])

    async def from_api_token(self, token: str) -> Identity | None:
        """Read-only lookup, then (at most once a minute) a separate conditional write of
        `last_used_at`. A read that upgrades to a write fails at once on SQLite when another
        connection wrote meanwhile (SQLITE_BUSY), so concurrent first uses of one token
        would answer 500; a write transaction of its own waits for the lock instead."""
        now = utcnow()
        async with self.db.read_connection() as conn:
            row = (await conn.execute(_API_TOKEN_AND_USER, {"token_hash": hash_api_token(token)})).first()
        if row is None:
            return None
        if row.revoked_at is not None or row.expires_at <= now:
            return None
        if not row.is_active or row.account_status != "active" or row.role_id not in ADMIN_ROLES:
            return None
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            async with self.db.transaction() as session:
                await session.execute(
                    update(ApiToken)
                    .where(
                        ApiToken.id == row.token_id,
                        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_RESOLUTION),
                    )
                    .values(last_used_at=now)
                )
        return self._identity(row, api_token_id=row.token_id)

    async def identify(self, request: web.Request) -> tuple[Identity | None, bool]:
        """(identity, a token was presented)."""
        found = find_token(request)
        if found is None:
            return None, False
        kind, token = found
        identity = await (self.from_api_token(token) if kind == "api" else self.from_jwt(token))
        return identity, True

    async def authorize(self, request: web.Request, access: Access) -> Identity | None:
        """Apply a route's access rule; raises 401 (who are you?) or 403 (not you)."""
        identity, presented = await self.identify(request)
        if access.kind == "public":
            # An API token that the route does not accept makes an anonymous caller here.
            return None if identity is not None and identity.via_api_token and not access.api_token else identity
        if identity is None:
            if access.kind == "api_token":
                message = "Invalid, expired or revoked API token." if presented else "API token required in the apiToken header."
            else:
                message = "Invalid, expired or revoked token." if presented else "Authentication required."
            raise Unauthorized(message, code="not_authenticated")
        if access.kind == "api_token" and not identity.via_api_token:
            raise Unauthorized("This route accepts only an API token in the apiToken header.", code="not_authenticated")
        if identity.via_api_token and not access.api_token:
            raise Forbidden("API tokens are not accepted on this route.", code="api_token_not_accepted")
        if access.kind == "roles" and identity.role not in access.roles:
            raise Forbidden()
        if access.kind == "permission" and not identity.can(access.permission or ""):
            raise Forbidden()
        return identity

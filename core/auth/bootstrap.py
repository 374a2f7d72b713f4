"""The first superAdmin: at start-up from config, or with `mentorkit createsuperuser`.

Start-up bootstrap runs in every worker at once, so it holds a lock for the
check-then-create: a PostgreSQL transaction-scoped advisory lock (SQLite's write
transaction is already exclusive), and the unique email index as a last line.
An email that already belongs to someone is never promoted: whoever registered
it first would otherwise become superAdmin with their own password.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, AsyncIterator, Mapping

from aiohttp import web
from marshmallow import ValidationError, validate
from sqlalchemy import select, text

from ..config import Settings
from ..errors import BadRequest, ConfigError
from ..keys import DB, SETTINGS
from ..plugins import emit
from .models import User
from .passwords import MIN_LENGTH
from .services import create_user, normalize_email

log = logging.getLogger("mentorkit.auth")

# The spec's names; `MENTORKIT_AUTH_BOOTSTRAP_ADMIN_*` (the config keys) take precedence.
ENV_EMAIL = "MENTORKIT_BOOTSTRAP_ADMIN_EMAIL"
ENV_PASSWORD = "MENTORKIT_BOOTSTRAP_ADMIN_PASSWORD"
ADVISORY_LOCK_KEY = 0x6D6B_0001  # "mk" + 1: serializes bootstrap across workers on PostgreSQL
DEFAULT_FULLNAME = "Administrator"
_valid_email = validate.Email(error="not a valid email address")


def bootstrap_credentials(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(email, password) when a bootstrap admin is configured; half a configuration stops start-up."""
    environ = os.environ if environ is None else environ
    email = settings.auth.bootstrap_admin_email or environ.get(ENV_EMAIL, "")
    password = settings.auth.bootstrap_admin_password or environ.get(ENV_PASSWORD, "")
    if not email and not password:
        return None
    problems = []
    if not email:
        problems.append("auth.bootstrap_admin_email: required when auth.bootstrap_admin_password is set")
    elif not _is_email(email):
        problems.append("auth.bootstrap_admin_email: not a valid email address")
    if not password:
        problems.append("auth.bootstrap_admin_password: required when auth.bootstrap_admin_email is set")
    elif len(password) < MIN_LENGTH:
        problems.append(f"auth.bootstrap_admin_password: must be at least {MIN_LENGTH} characters")
    if problems:
        raise ConfigError(problems)
    return email, password


def _is_email(value: str) -> bool:
    try:
        _valid_email(value.strip())
    except ValidationError:
        return False
    return True


async def ensure_super_admin(app: web.Application, email: str, password: str) -> User | None:
    """Create a superAdmin unless an active one exists; None when nothing was created."""
    db = app[DB]
    try:
        async with db.transaction() as session:
            if not db.is_sqlite:
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            existing = await session.scalar(
                select(User.id).where(User.role_id == "superAdmin", User.is_active.is_(True)).limit(1)
            )
            if existing is not None:
                return None
            if await session.scalar(select(User.id).where(User.email == normalize_email(email))) is not None:
                log.warning(
                    "bootstrap admin not created: %s already belongs to a user who is not a superAdmin; "
                    "use `mentorkit createsuperuser` with another email", normalize_email(email)
                )
                return None
            return await create_user(
                session, email=email, password=password, fullname=DEFAULT_FULLNAME, role="superAdmin",
                email_verified=True,
            )
    except BadRequest:  # another worker created the same email between our check and insert
        return None


async def bootstrap_admin_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: make the configured superAdmin once the database is up."""
    credentials = bootstrap_credentials(app[SETTINGS])
    if credentials is not None:
        user = await ensure_super_admin(app, *credentials)
        if user is not None:
            log.info("created bootstrap superAdmin %s", user.email)
    yield


def add_commands(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("createsuperuser", help="create a superAdmin account")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--fullname", default=DEFAULT_FULLNAME)
    parser.set_defaults(run_with_app=createsuperuser)


async def createsuperuser(app: web.Application, args: argparse.Namespace) -> int:
    """`mentorkit createsuperuser --email E --password P`: 0 on success, 1 with a reason otherwise."""
    if not _is_email(args.email):
        print(f"mentorkit createsuperuser: {args.email!r} is not a valid email address", file=sys.stderr)
        return 1
    try:
        async with app[DB].transaction() as session:
            user = await create_user(
                session, email=args.email, password=args.password, fullname=args.fullname.strip() or DEFAULT_FULLNAME,
                role="superAdmin", email_verified=True,
            )
    except BadRequest as exc:
        print(f"mentorkit createsuperuser: {exc.message}", file=sys.stderr)
        return 1
    await emit(app, "user.created", {"userId": user.id, "roleId": user.role_id, "actorId": None})
    print(f"created superAdmin {user.email} ({user.id})")
    return 0

"""pytest plugin (`pytest11` entry point): apps with chosen plugins on SQLite and PostgreSQL.

Fixtures:
- `database_url`: parametrized over `sqlite` and `postgresql`. Each backend gets one
  fresh database per test session with every installed branch migrated; tables
  are emptied after each test. PostgreSQL runs when `MENTORKIT_TEST_DATABASE_URL`
  is set (and then fails, never skips, if the server is unreachable).
- `redis_url`: `MENTORKIT_TEST_REDIS_URL`, or the test is skipped; unreachable fails.
- `kit`: builds apps and clients (`await kit.client(plugins=["qna"])`), users with
  tokens (`await kit.user(client, role="tutor")`) and a controllable clock.

Plugin tests that need no database can use `kit_sqlite` (SQLite only).

- `smtp_server`: a real SMTP server (aiosmtpd) on a free loopback port that keeps
  what it receives in `.messages`; `.stop()` / `.start()` simulate an outage and
  `kit.client(email=smtp_server.email_settings)` points an app's mailer at it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from . import migrate
from .app import create_app
from .clock import FrozenClock
from .config import Settings
from .db import Database
from .keys import CLOCK, DB
from .plugins import Installed, installed_plugins

PG_ENV = "MENTORKIT_TEST_DATABASE_URL"
REDIS_ENV = "MENTORKIT_TEST_REDIS_URL"
BACKENDS = ("sqlite", "postgresql")
DEFAULT_PASSWORD = "correct-horse-battery"


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _migrate_all(url: str) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db, sorted(installed_plugins()))
    finally:
        await db.dispose()


async def _create_pg_database(base_url: str) -> str:
    import asyncpg

    url = make_url(base_url)
    name = f"mentorkit_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres",
        password=url.password, database=url.database or "postgres",
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(base_url: str, test_url: str) -> None:
    import asyncpg

    url = make_url(base_url)
    name = make_url(test_url).database
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres",
        password=url.password, database=url.database or "postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


_DELETE_ORDER: dict[str, list[str]] = {}  # per session database; its schema is fixed once migrated


async def empty_tables(url: str) -> None:
    """Delete every row (not the schema) so the next test starts clean."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            # Children before parents. DELETE, not TRUNCATE: on the few rows a test
            # leaves it is many times faster on PostgreSQL, and no PRAGMA is needed on SQLite.
            if url not in _DELETE_ORDER:
                ordered = await conn.run_sync(lambda c: inspect(c).get_sorted_table_and_fkc_names())
                _DELETE_ORDER[url] = [n for n, _ in reversed(ordered) if n and n != "alembic_version"]
            for name in _DELETE_ORDER[url]:
                await conn.exec_driver_sql(f'DELETE FROM "{name}"')
    finally:
        await db.dispose()


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with its cheapest parameters in tests (Django's test settings do the same
    with MD5): suites create hundreds of users. Hashes are still real argon2id."""
    from argon2 import PasswordHasher

    from .auth import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(scope="session")
def sqlite_session_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="mentorkit-test-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'test.db'}"
        _run(_migrate_all(url))
        yield url


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str | None]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    url = _run(_create_pg_database(base))
    try:
        _run(_migrate_all(url))
        yield url
    finally:
        _run(_drop_pg_database(base, url))


def backend_url(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "sqlite":
        return request.getfixturevalue("sqlite_session_url")
    url = request.getfixturevalue("postgres_session_url")
    if url is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = backend_url(request, request.param)
    yield url
    _run(empty_tables(url))


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = backend_url(request, "sqlite")
    yield url
    _run(empty_tables(url))


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis tests need {REDIS_ENV}")
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()  # unreachable with the variable set is a failure, not a skip
    finally:
        client.close()
    return url


def settings_for_tests(database_url: str, plugins: list[str] | tuple[str, ...] = (), **overrides: dict[str, Any]) -> Settings:
    raw: dict[str, Any] = {
        "database": {"url": database_url, "auto_migrate": False, "pool_size": 5},
        "plugins": {"enabled": list(plugins)},
        "tasks": {"enabled": False},
        "ratelimit": {"default": "10000/minute"},
        "auth": {"jwt_secret": "test-secret-" + "x" * 32, "login_limit": "1000/minute"},
        "server": {"log_level": "WARNING"},
    }
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return Settings(raw, "<tests>")


@dataclass
class KitUser:
    id: str
    email: str
    password: str
    role: str
    token: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Kit:
    """Builds apps and clients for one test; everything it starts, pytest-aiohttp stops."""

    database_url: str
    aiohttp_client: Any
    clock: FrozenClock = field(default_factory=FrozenClock)
    _counter: int = 0

    def app(
        self,
        plugins: list[str] | tuple[str, ...] = (),
        *,
        installed: dict[str, Installed] | None = None,
        **overrides: dict[str, Any],
    ) -> web.Application:
        """An app with only `plugins` enabled; `installed` replaces entry-point discovery."""
        app = create_app(settings_for_tests(self.database_url, plugins, **overrides), installed=installed)
        app[CLOCK] = self.clock
        return app

    async def client(
        self,
        plugins: list[str] | tuple[str, ...] = (),
        *,
        installed: dict[str, Installed] | None = None,
        **overrides: dict[str, Any],
    ) -> TestClient:
        return await self.aiohttp_client(self.app(plugins, installed=installed, **overrides))

    async def user(
        self,
        client_or_app: TestClient | web.Application,
        role: str = "student",
        *,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        fullname: str | None = None,
        **fields: Any,
    ) -> KitUser:
        from .auth.services import create_user, open_session

        app = client_or_app.app if isinstance(client_or_app, TestClient) else client_or_app
        self._counter += 1
        email = email or f"{role.lower()}{self._counter}-{uuid.uuid4().hex[:6]}@example.com"
        async with app[DB].transaction() as session:
            user = await create_user(
                session, email=email, password=password, fullname=fullname or f"{role.title()} {self._counter}",
                role=role, **fields,
            )
        auth_session, token, _ = await open_session(app, user)
        return KitUser(user.id, user.email, password, role, token, auth_session.id)

    async def api_token(self, client_or_app: TestClient | web.Application, admin: KitUser, name: str = "test") -> str:
        """A fresh API token acting as `admin`, made as `POST /v1/apitokens` makes it."""
        from .auth.identity import Identity
        from .auth.services import create_api_token

        app = client_or_app.app if isinstance(client_or_app, TestClient) else client_or_app
        actor = Identity(user_id=admin.id, role=admin.role, email=admin.email, fullname="", permissions=frozenset())
        _, token = await create_api_token(app, actor, name, None)
        return token


@pytest.fixture
async def kit(database_url: str, aiohttp_client: Any) -> AsyncIterator[Kit]:
    yield Kit(database_url, aiohttp_client)


@pytest.fixture
async def kit_sqlite(sqlite_url: str, aiohttp_client: Any) -> AsyncIterator[Kit]:
    yield Kit(sqlite_url, aiohttp_client)


class SmtpTestServer:
    """A real SMTP server for tests: aiosmtpd in its own thread on 127.0.0.1.

    `.messages` holds every accepted message as an `EmailMessage` (parsed with the
    default policy), `.envelopes` the matching `(mail_from, rcpt_tos)`. `.stop()`
    closes the port (connections are refused, as in an outage) and `.start()`
    listens again on the same port. `.refuse(address)` answers 550 to that
    recipient; `.tempfail = True` answers 451 to every message.
    """

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or _free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()
        self.tempfail = False
        self._lock = threading.Lock()
        self._controller: Any = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def email_settings(self) -> dict[str, Any]:
        """The `[email]` settings that send through this server."""
        return {"backend": "smtp", "host": self.host, "port": self.port, "timeout": 5.0,
                "use_tls": False, "start_tls": False, "sender": "Mentorkit <no-reply@mentorkit.test>"}

    def refuse(self, address: str) -> None:
        self.refused.add(address.lower())

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port)
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    def _accept(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> None:
        # SMTP carries CRLF line ends; parse as a mailbox would store it.
        message = email.message_from_bytes(content.replace(b"\r\n", b"\n"), policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((mail_from, list(rcpt_tos)))


class _SmtpHandler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address.lower() in self.server.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.tempfail:
            return "451 4.3.0 Temporary failure, try again later"
        self.server._accept(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    server = SmtpTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

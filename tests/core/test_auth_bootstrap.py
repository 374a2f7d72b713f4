"""The first superAdmin: start-up bootstrap (race-safe across workers) and `mentorkit createsuperuser`."""

from __future__ import annotations

import asyncio

import pytest
from auth_support import login
from sqlalchemy import select

from core import cli
from core.auth.bootstrap import bootstrap_credentials
from core.auth.models import User
from core.db import Database
from core.errors import ConfigError
from core.keys import DB
from core.testing import settings_for_tests

ROOT = {"bootstrap_admin_email": "Root@Example.com", "bootstrap_admin_password": "bootstrap-secret-1"}


async def super_admins(app) -> list[User]:
    async with app[DB].session() as session:
        return list((await session.scalars(select(User).where(User.role_id == "superAdmin"))).all())


async def test_bootstrap_creates_one_super_admin_who_can_log_in(kit):
    client = await kit.client(auth=ROOT)
    [root] = await super_admins(client.app)
    assert root.email == "root@example.com" and root.email_verified and root.account_status == "active"
    session = await (await login(client, "root@example.com", "bootstrap-secret-1")).json()
    assert session["roleId"] == "superAdmin"

    # A second start (another worker, a restart) finds the superAdmin and creates nothing.
    again = await kit.client(auth={**ROOT, "bootstrap_admin_email": "second@example.com"})
    assert [u.email for u in await super_admins(again.app)] == ["root@example.com"]


async def test_workers_starting_together_create_exactly_one(kit):
    apps = [kit.app(auth=ROOT) for _ in range(4)]
    await asyncio.gather(*(kit.aiohttp_client(app) for app in apps))
    assert len(await super_admins(apps[0])) == 1


async def test_bootstrap_never_promotes_an_existing_account(kit):
    client = await kit.client()
    squatter = await kit.user(client, "student", email="root@example.com")
    again = await kit.client(auth=ROOT)
    assert await super_admins(again.app) == []
    await assert_role(again, squatter.id, "student")


async def assert_role(client, user_id: str, role: str) -> None:
    async with client.app[DB].session() as session:
        assert await session.scalar(select(User.role_id).where(User.id == user_id)) == role


def test_half_a_bootstrap_configuration_is_refused():
    def creds(auth, environ=None):
        return bootstrap_credentials(settings_for_tests("sqlite+aiosqlite://", auth=auth), environ or {})

    assert creds({}) is None
    assert creds(ROOT) == ("Root@Example.com", "bootstrap-secret-1")
    # The spec's MENTORKIT_BOOTSTRAP_ADMIN_* names work too.
    environ = {"MENTORKIT_BOOTSTRAP_ADMIN_EMAIL": "env@example.com", "MENTORKIT_BOOTSTRAP_ADMIN_PASSWORD": "from-the-env-1"}
    assert creds({}, environ) == ("env@example.com", "from-the-env-1")
    for auth, problem in (
        ({"bootstrap_admin_email": "a@example.com"}, "bootstrap_admin_password: required"),
        ({"bootstrap_admin_password": "long-enough-1"}, "bootstrap_admin_email: required"),
        ({**ROOT, "bootstrap_admin_password": "short"}, "at least 8"),
        ({**ROOT, "bootstrap_admin_email": "nope"}, "not a valid email"),
    ):
        with pytest.raises(ConfigError) as exc:
            creds(auth)
        assert any(problem in p for p in exc.value.problems), exc.value.problems
        assert "short" not in str(exc.value) and "long-enough-1" not in str(exc.value)


def _config(tmp_path, database_url: str) -> str:
    path = tmp_path / "mentorkit.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\nauto_migrate = false\n'
        '[plugins]\nenabled = []\n[tasks]\nenabled = false\n'
        f'[auth]\njwt_secret = "{"s" * 40}"\n[server]\nlog_level = "WARNING"\n',
        encoding="utf-8",
    )
    return str(path)


def test_createsuperuser_command(database_url, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MENTORKIT_BOOTSTRAP_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("MENTORKIT_BOOTSTRAP_ADMIN_PASSWORD", raising=False)
    config = _config(tmp_path, database_url)

    def run(*args: str) -> int:
        return cli.main(["--config", config, "createsuperuser", *args])

    assert run("--email", "Boss@Example.com", "--password", "cli-password-1") == 0
    assert "created superAdmin boss@example.com" in capsys.readouterr().out
    assert run("--email", "boss@example.com", "--password", "cli-password-2") == 1
    assert "already exists" in capsys.readouterr().err
    assert run("--email", "other@example.com", "--password", "short") == 1
    assert "at least 8" in capsys.readouterr().err
    assert run("--email", "not-an-email", "--password", "cli-password-3") == 1
    assert "cli-password" not in capsys.readouterr().out

    async def stored() -> list[tuple[str, str]]:
        db = Database(database_url)
        try:
            async with db.session() as session:
                return [(u.email, u.role_id) for u in (await session.scalars(select(User))).all()]
        finally:
            await db.dispose()

    assert asyncio.run(stored()) == [("boss@example.com", "superAdmin")]

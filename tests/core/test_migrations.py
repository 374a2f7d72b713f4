"""One alembic env, a core branch and one branch per plugin, upgraded branch by branch."""

import asyncio
import os
import uuid

import pytest
from sqlalchemy import inspect, text

from core import migrate
from core.app import create_app
from core.db import Database
from core.errors import ConfigError
from core.keys import DB
from core.testing import PG_ENV, _create_pg_database, _drop_pg_database, settings_for_tests


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database (not the session's migrated one)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    url = asyncio.run(_create_pg_database(base))
    yield url
    asyncio.run(_drop_pg_database(base, url))


async def _tables_and_versions(db: Database) -> tuple[set[str], set[str]]:
    async with db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        versions = set((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    return tables, versions


async def test_enabling_a_plugin_later_runs_only_its_branch(fresh_url):
    db = Database(fresh_url)
    try:
        assert await migrate.pending(db, ["example"]) == ["core", "example"]
        assert await migrate.upgrade(db, []) == ["core"]
        tables, versions = await _tables_and_versions(db)
        assert "users" in tables and "example_notes" not in tables
        assert versions == {"core_0001"} or all(v.startswith("core_") for v in versions)
        core_versions = versions

        assert await migrate.pending(db, []) == []
        assert await migrate.pending(db, ["example"]) == ["example"]
        await migrate.upgrade(db, ["example"])
        tables, versions = await _tables_and_versions(db)
        assert "example_notes" in tables
        assert versions - core_versions == {"example_0001"}
        assert await migrate.pending(db, ["example"]) == []
        # Idempotent: upgrading again changes nothing.
        await migrate.upgrade(db, ["example"])
        assert (await _tables_and_versions(db))[1] == versions
    finally:
        await db.dispose()


async def test_server_refuses_to_start_with_pending_migrations(fresh_url, aiohttp_client):
    app = create_app(settings_for_tests(fresh_url, ["example"]))
    with pytest.raises(ConfigError, match="pending migrations for core, example; run `mentorkit db upgrade`"):
        await aiohttp_client(app)


async def test_embedded_default_migrates_at_startup(tmp_path, aiohttp_client):
    url = f"sqlite+aiosqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    settings = settings_for_tests(url, ["example"], database={"auto_migrate": None})
    assert settings.auto_migrate
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/health")
    assert (await resp.json())["database"] == "ok"
    tables, _ = await _tables_and_versions(client.app[DB])
    assert {"users", "example_notes"} <= tables

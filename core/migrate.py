"""Alembic driven from code: one env, a `core` branch, one labelled branch per plugin.

Upgrades go branch by branch (`core@head`, then each enabled plugin's), never
`heads`, so enabling a plugin later runs only its branch. Every installed
plugin's versions folder is on the path, so revisions of a plugin that was
enabled once and later disabled still resolve.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from .db import Database
from .plugins import installed_plugins, migration_dir

CORE_DIR = Path(__file__).parent / "migrations"
CORE_BRANCH = "core"


def alembic_config(version_dirs: Iterable[str]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(CORE_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [str(CORE_DIR / "versions"), *version_dirs]
    cfg.set_main_option("version_locations", os.pathsep.join(dict.fromkeys(locations)))
    return cfg


def plugin_version_dirs() -> dict[str, str]:
    """Every installed plugin's versions folder, enabled or not."""
    dirs = {}
    for name, inst in installed_plugins().items():
        path = migration_dir(inst)
        if path:
            dirs[name] = path
    return dirs


def _heads_by_branch(script: ScriptDirectory, branches: list[str]) -> dict[str, set[str]]:
    out = {}
    for branch in branches:
        out[branch] = {rev.revision for rev in script.revision_map.get_revisions(f"{branch}@head") if rev}
    return out


def _pending_sync(conn: Connection, cfg: Config, branches: list[str]) -> list[str]:
    script = ScriptDirectory.from_config(cfg)
    current = set(MigrationContext.configure(conn).get_current_heads())
    applied: set[str] = set()
    for rev in current:
        applied.update(r.revision for r in script.revision_map.iterate_revisions(rev, "base"))
    missing = []
    for branch, heads in _heads_by_branch(script, branches).items():
        if not heads <= applied:
            missing.append(branch)
    return missing


def _upgrade_sync(conn: Connection, cfg: Config, branches: list[str]) -> None:
    cfg.attributes["connection"] = conn
    for branch in branches:
        command.upgrade(cfg, f"{branch}@head")


def _plan(enabled: Iterable[str]) -> tuple[Config, list[str]]:
    dirs = plugin_version_dirs()
    cfg = alembic_config(dirs.values())
    return cfg, [CORE_BRANCH] + [name for name in enabled if name in dirs]


async def upgrade(db: Database, enabled: Iterable[str]) -> list[str]:
    """Upgrade core, then each enabled plugin with migrations; returns the branches run."""
    cfg, branches = _plan(enabled)
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade_sync, cfg, branches)
    return branches


async def pending(db: Database, enabled: Iterable[str]) -> list[str]:
    """Branches (core or plugin names) whose head is not applied yet."""
    cfg, branches = _plan(enabled)
    async with db.engine.connect() as conn:
        return await conn.run_sync(_pending_sync, cfg, branches)

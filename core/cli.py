"""`mentorkit serve | db upgrade | db revision | plugins list | openapi | tasks run | createsuperuser`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from typing import Any, Awaitable, Callable

from aiohttp import web

from .app import create_app, enabled_plugin_names
from .config import Settings, load_settings
from .db import Database
from .errors import ConfigError, PluginError
from .jsonutil import dumps
from .keys import PLUGIN_MANAGER, PLUGINS
from .logs import AccessLogger, configure_logging
from .plugins import installed_plugins, resolve, versions_path

log = logging.getLogger("mentorkit.cli")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    overrides: dict[str, dict[str, Any]] = {}
    for key in ("host", "port", "workers"):
        value = getattr(args, key, None)
        if value is not None:
            overrides.setdefault("server", {})[key] = value
    return settings.with_overrides(overrides) if overrides else settings


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _serve_one(settings: Settings, sock: socket.socket | None) -> None:
    _use_uvloop()
    app = create_app(settings)
    access = settings.server.access_log
    web.run_app(
        app,
        host=None if sock else settings.server.host,
        port=None if sock else settings.server.port,
        sock=sock,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("mentorkit.access") if access else None,
        print=None if sock else print,
        shutdown_timeout=10,
        handle_signals=True,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    workers = settings.server.workers
    if settings.auto_migrate:
        # Migrate once in the parent so N workers do not race to create tables.
        asyncio.run(_upgrade(settings))
    if workers == 1:
        _serve_one(settings, None)
        return 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.server.host, settings.server.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    print(f"======== Running on http://{settings.server.host}:{settings.server.port} with {workers} workers ========")
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                _serve_one(settings, sock)
            finally:
                os._exit(0)
        children.append(pid)
    status = 0
    try:
        for pid in children:
            _, code = os.waitpid(pid, 0)
            status = status or (code >> 8)
    except KeyboardInterrupt:
        pass
    return status


async def _upgrade(settings: Settings) -> list[str]:
    from . import migrate

    db = Database(settings.database.url)
    try:
        return await migrate.upgrade(db, [p.spec.name for p in resolve(enabled_plugin_names(settings))])
    finally:
        await db.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    branches = asyncio.run(_upgrade(_settings(args)))
    print("upgraded: " + ", ".join(branches))
    return 0


def cmd_db_revision(args: argparse.Namespace) -> int:
    """Autogenerate a revision on a branch (for plugin authors)."""
    from alembic import command

    from . import migrate

    settings = _settings(args)
    app = create_app(settings)  # registers the enabled plugins' models on the metadata
    enabled = {p.spec.name for p in app[PLUGINS]}
    # Only enabled branches: autogenerate compares against a database upgraded for them.
    dirs = [path for name, path in migrate.plugin_version_dirs().items() if name in enabled]
    kwargs: dict[str, Any] = {"message": args.message, "autogenerate": True}
    if args.branch == migrate.CORE_BRANCH:
        kwargs["head"] = "core@head"
        kwargs["version_path"] = str(migrate.CORE_DIR / "versions")
    elif args.new_branch:
        version_path = _new_branch_dir(args.branch)
        dirs.append(version_path)
        kwargs.update(head="base", branch_label=args.branch, version_path=version_path, depends_on="core@head")
    else:
        kwargs["head"] = f"{args.branch}@head"
    cfg = migrate.alembic_config(dirs)
    cfg.set_main_option("sqlalchemy.url", settings.database.url)
    command.revision(cfg, **kwargs)
    return 0


def _new_branch_dir(name: str) -> str:
    """`<plugin package>/migrations/versions`, created for a plugin's first revision."""
    installed = installed_plugins()
    if name not in installed:
        raise PluginError(f"unknown plugin {name!r}; installed: {', '.join(sorted(installed))}")
    path = versions_path(installed[name])
    if path is None:
        raise PluginError(f"plugin {name!r} is not a package; it cannot hold migrations")
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def cmd_plugins_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    enabled = set(enabled_plugin_names(settings))
    for name, inst in sorted(installed_plugins().items()):
        state = "enabled" if name in enabled else "disabled"
        print(f"{name:<16} {state:<9} {inst.version:<10} {inst.target}")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from .openapi import SPEC_KEY

    app = create_app(_settings(args))
    sys.stdout.write(dumps(app[SPEC_KEY]).decode() + "\n")
    return 0


async def _with_app(settings: Settings, func: Callable[[web.Application], Awaitable[int]]) -> int:
    """Run a command with a started app (database, services, lifespans) but no HTTP server.

    Commands that need the app set `run_with_app=async (app, args) -> int` as a parser default.
    """
    settings = settings.with_overrides({"tasks": {"enabled": False}})
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        return await func(app)
    finally:
        await runner.cleanup()


def build_parser(settings_for_commands: Settings | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mentorkit", description="Mentorkit API server")
    parser.add_argument("--config", "-c", default=os.environ.get("MENTORKIT_CONFIG"), help="TOML config file")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="upgrade core, then each enabled plugin").set_defaults(func=cmd_db_upgrade)
    revision = db.add_parser("revision", help="autogenerate a migration on a branch")
    revision.add_argument("--branch", required=True)
    revision.add_argument("--new-branch", action="store_true", help="first revision of a plugin branch")
    revision.add_argument("-m", "--message", required=True)
    revision.set_defaults(func=cmd_db_revision)

    plugins = sub.add_parser("plugins", help="plugins").add_subparsers(dest="plugins_command", required=True)
    plugins.add_parser("list", help="installed plugins, enabled or not, with versions").set_defaults(func=cmd_plugins_list)

    sub.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=cmd_openapi)

    if settings_for_commands is not None:
        app = create_app(settings_for_commands)
        app[PLUGIN_MANAGER].hook.register_commands(subparsers=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", "-c", default=os.environ.get("MENTORKIT_CONFIG"))
    known, _ = pre.parse_known_args(argv)
    try:
        settings = load_settings(known.config)
        configure_logging(settings.server.log_level)
        args = build_parser(settings).parse_args(argv)
        if hasattr(args, "run_with_app"):
            return asyncio.run(_with_app(_settings(args), lambda app: args.run_with_app(app, args)))
        return int(args.func(args) or 0)
    except (ConfigError, PluginError) as exc:
        print(f"mentorkit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

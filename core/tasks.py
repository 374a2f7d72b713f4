"""Background tasks: `TaskSpec(name, run, every)` run by a supervisor inside the server.

- A periodic task (`every` seconds) runs first right after start-up, then `every`
  seconds after the previous run began (or ended, if it ran longer). A failure is
  logged with the task's name and duration and the task simply runs again at the
  next tick; one task failing never stops another.
- A long-running task (`every=None`) is started once per worker and restarted with
  a growing back-off (1 s .. 60 s) if it returns or fails.
- Across workers and machines a periodic task runs on one worker at a time. The
  lock lives where the deployment's shared state lives, with no new tables:
  Redis (`SET NX PX` with a random token, renewed while the run lasts, released by
  a compare-and-delete script) when Redis is configured; otherwise a PostgreSQL
  transaction-level advisory lock held by a transaction spanning the run; on SQLite
  a non-blocking `flock` on a lock file beside the database (an in-process lock for
  `:memory:`). A worker that finds the lock taken skips that tick. Tasks must be
  idempotent anyway (a crash mid-run means the next run redoes part of the work).
- Shutdown cancels every task and waits for it, so nothing is left pending.

`app[SUPERVISOR]` exists even with `tasks.enabled = false` (then nothing is
scheduled) so `Supervisor.run_once(name)` works for `mentorkit tasks run NAME`
(cron-driven deployments) and for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from .aioutil import OutageLog, cancel_and_wait
from .hookspecs import hookimpl
from .keys import DB, REDIS, SETTINGS, SUPERVISOR, TASK_SPECS

log = logging.getLogger("mentorkit.tasks")

TaskFunc = Callable[[web.Application], Awaitable[None]]

LEASE_SECONDS = 60.0  # Redis lock lifetime; renewed every third of it while the task runs
RESTART_MIN, RESTART_MAX = 1.0, 60.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class TaskSpec:
    """A background task. `every` seconds for a periodic task (run on one worker at a
    time across the cluster); None for a long-running task started once per worker."""

    name: str
    run: TaskFunc
    every: float | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a task needs a name")
        if self.every is not None and self.every <= 0:
            raise ValueError(f"task {self.name!r}: every must be a positive number of seconds")


class UnknownTask(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(sorted(known)) or "none are registered"
        super().__init__(f"unknown task {name!r}; tasks: {listed}")


class LeaseLost(RuntimeError):
    """The cluster lock expired or was taken while the task ran; the run was cancelled."""


class TaskLocks(Protocol):
    def hold(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """Enter with True when this worker holds the task's lock, False when another does."""
        ...


# --- lock backends -------------------------------------------------------------------------

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


class RedisLocks:
    """`SET key token NX PX lease`; a watchdog renews the lease while the run lasts and
    cancels the run if the lease is lost (someone else may be running it then)."""

    def __init__(self, client: Any, prefix: str, lease: float = LEASE_SECONDS) -> None:
        self.client = client
        self.prefix = prefix
        self.lease_ms = int(lease * 1000)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._outage = OutageLog(log, "Redis (task locks)")

    def key(self, name: str) -> str:
        return f"{self.prefix}task-lock:{name}"

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        key, token = self.key(name), secrets.token_hex(16)
        try:
            acquired = bool(await self.client.set(key, token, nx=True, px=self.lease_ms))
        except (RedisError, OSError) as exc:
            # Without the lock we cannot know nobody else runs it: skip this tick.
            self._outage.failed(exc, f"skipping task {name!r} this tick")
            yield False
            return
        self._outage.recovered()
        if not acquired:
            yield False
            return
        task = asyncio.current_task()
        assert task is not None
        lost = asyncio.Event()
        watchdog = asyncio.create_task(self._watch(key, token, task, lost), name=f"mentorkit-lease-{name}")
        try:
            yield True
        except asyncio.CancelledError:
            if lost.is_set() and task.uncancel() == 0:
                raise LeaseLost(f"task {name!r} lost its lock and was stopped") from None
            raise
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
            try:
                await self._release(keys=[key], args=[token])
            except (RedisError, OSError) as exc:
                self._outage.failed(exc, f"lock of {name!r} expires by itself")

    async def _watch(self, key: str, token: str, task: asyncio.Task[Any], lost: asyncio.Event) -> None:
        interval = self.lease_ms / 3000
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self._renew(keys=[key], args=[token, self.lease_ms])
            except (RedisError, OSError) as exc:
                self._outage.failed(exc, "cannot renew a task lock")
                if time.monotonic() - last_ok < self.lease_ms / 1000:
                    continue
                renewed = 0
            if not renewed:
                log.error("lock %s was lost while its task ran; cancelling the run", key)
                lost.set()
                task.cancel()
                return
            last_ok = time.monotonic()


class PostgresLocks:
    """`pg_try_advisory_xact_lock` inside a transaction that spans the run: PostgreSQL
    releases it at commit, rollback or disconnect, so a crashed worker never leaks it."""

    def __init__(self, engine: Any, namespace: str) -> None:
        self.engine = engine
        self.namespace = namespace

    def key(self, name: str) -> int:
        digest = hashlib.blake2b(f"{self.namespace}task:{name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        async with self.engine.connect() as conn:
            async with conn.begin():
                got = (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self.key(name)})).scalar()
                yield bool(got)


class FileLocks:
    """SQLite: a non-blocking `flock` on `<database>.task-<name>.lock`. flock locks
    belong to the open file, so they exclude other processes and other apps in this
    process alike, and the kernel drops them if the process dies."""

    def __init__(self, database: Path) -> None:
        self.database = database

    def path(self, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        return self.database.with_name(f"{self.database.name}.task-{safe}.lock")

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        attempt = asyncio.ensure_future(asyncio.to_thread(_try_flock, self.path(name)))
        try:
            fd = await asyncio.shield(attempt)
        except asyncio.CancelledError:
            # The thread finishes anyway; never leave its lock held with nobody to release it.
            attempt.add_done_callback(_close_acquired)
            raise
        if fd is None:
            yield False
            return
        try:
            yield True
        finally:
            os.close(fd)  # closing the last descriptor releases the flock


def _close_acquired(attempt: asyncio.Future[int | None]) -> None:
    if not attempt.cancelled() and attempt.exception() is None and attempt.result() is not None:
        os.close(attempt.result())


def _try_flock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


class LocalLocks:
    """One process only (SQLite `:memory:`): an asyncio lock per task, never waited on."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True


def choose_locks(app: web.Application) -> TaskLocks:
    settings = app[SETTINGS]
    client = app.get(REDIS)
    if client is not None:
        return RedisLocks(client, settings.redis.prefix)
    db = app[DB]
    if not db.is_sqlite:
        return PostgresLocks(db.engine, settings.redis.prefix)
    database = make_url(settings.database.url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return LocalLocks()
    return FileLocks(Path(database).resolve())


# --- the supervisor -------------------------------------------------------------------------


class Supervisor:
    def __init__(self, app: web.Application, specs: list[TaskSpec], locks: TaskLocks) -> None:
        names = [spec.name for spec in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tasks registered twice: {', '.join(duplicates)}")
        self.app = app
        self.specs = {spec.name: spec for spec in specs}
        self.locks = locks
        self._running: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def names(self) -> list[str]:
        return sorted(self.specs)

    @property
    def running(self) -> list[asyncio.Task[None]]:
        return list(self._running)

    def start(self) -> None:
        for spec in self.specs.values():
            loop = self._periodic(spec) if spec.every is not None else self._long_running(spec)
            self._running.append(asyncio.create_task(loop, name=f"mentorkit-task-{spec.name}"))
        if self.specs:
            log.info("started tasks: %s", ", ".join(self.names))

    async def stop(self) -> None:
        """Cancel every task and wait for it (a run in progress is cancelled too)."""
        self._stopping = True
        tasks, self._running = self._running, []
        await cancel_and_wait(tasks, STOP_TIMEOUT)

    async def run_once(self, name: str) -> bool:
        """Run one task now under its cluster lock. True if it ran here, False if another
        worker holds the lock. Exceptions of the task propagate."""
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownTask(name, list(self.specs))
        return await self._run_locked(spec)

    async def _run_locked(self, spec: TaskSpec) -> bool:
        async with self.locks.hold(spec.name) as acquired:
            if not acquired:
                log.debug("task %s is running elsewhere; skipped", spec.name)
                return False
            await spec.run(self.app)
            return True

    async def _periodic(self, spec: TaskSpec) -> None:
        assert spec.every is not None
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            try:
                await self._run_locked(spec)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "task %s failed after %.2fs; it runs again in %ss",
                    spec.name, loop.time() - started, spec.every,
                )
            await asyncio.sleep(max(0.0, spec.every - (loop.time() - started)))

    async def _long_running(self, spec: TaskSpec) -> None:
        delay = RESTART_MIN
        while not self._stopping:
            started = time.monotonic()
            try:
                await spec.run(self.app)
                log.warning("long-running task %s returned; restarting in %.0fs", spec.name, delay)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("long-running task %s failed; restarting in %.0fs", spec.name, delay)
            if time.monotonic() - started > RESTART_MAX:
                delay = RESTART_MIN  # it ran fine for a while: start the back-off over
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)


async def supervisor_ctx(app: web.Application) -> AsyncIterator[None]:
    """`app[SUPERVISOR]`; its tasks run only when `tasks.enabled` (last to start, first to stop)."""
    supervisor = Supervisor(app, list(app[TASK_SPECS]), choose_locks(app))
    app[SUPERVISOR] = supervisor
    if app[SETTINGS].tasks.enabled:
        supervisor.start()
    try:
        yield
    finally:
        await supervisor.stop()


# --- `mentorkit tasks ...` -------------------------------------------------------------------


async def cmd_tasks_run(app: web.Application, args: argparse.Namespace) -> int:
    supervisor: Supervisor = app[SUPERVISOR]
    started = time.perf_counter()
    try:
        ran = await supervisor.run_once(args.name)
    except UnknownTask as exc:
        print(f"mentorkit: {exc.args[0]}", file=sys.stderr)
        return 2
    except Exception:
        log.exception("task %s failed", args.name)
        return 1
    if not ran:
        print(f"task {args.name} is running on another worker; skipped")
        return 0
    print(f"task {args.name} ran in {time.perf_counter() - started:.2f}s")
    return 0


async def cmd_tasks_list(app: web.Application, args: argparse.Namespace) -> int:
    supervisor: Supervisor = app[SUPERVISOR]
    for name in supervisor.names:
        every = supervisor.specs[name].every
        print(f"{name:<32} {'every ' + format(every, 'g') + 's' if every is not None else 'long-running'}")
    return 0


@hookimpl
def register_commands(subparsers: Any) -> None:
    tasks = subparsers.add_parser("tasks", help="background tasks").add_subparsers(dest="tasks_command", required=True)
    run = tasks.add_parser("run", help="run one task once now (under its cluster lock)")
    run.add_argument("name", help="task name, see `mentorkit tasks list`")
    run.set_defaults(run_with_app=cmd_tasks_run)
    tasks.add_parser("list", help="registered tasks").set_defaults(run_with_app=cmd_tasks_list)

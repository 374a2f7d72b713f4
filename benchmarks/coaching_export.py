"""Benchmark: a 90-day coaching export of N sessions through a real `mentorkit serve`.

    python benchmarks/coaching_export.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                                         [--sessions 50000] [--points 2] [--todos 1] [--log-entries 3]

The URL (or MENTORKIT_BENCH_DATABASE_URL) names a PostgreSQL server; the script
creates a scratch database beside the one named, migrates it, seeds it with COPY
(sessions, points, to-dos, links, activity entries), starts `mentorkit serve` on it
in a subprocess, streams one 90-day export with an API token and reports sessions
per second, bytes, time to first byte and the server's RSS before the export and at
its peak during it (VmHWM, reset just before the request). The scratch database is
dropped afterwards unless --keep is given. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import orjson
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import migrate  # noqa: E402
from core.auth.tokens import hash_api_token, new_api_token  # noqa: E402
from core.db import Database  # noqa: E402

UTC = dt.timezone.utc
START = dt.date(2026, 1, 1)
DAYS = 90


def _id() -> str:
    return uuid.uuid4().hex


def _pg_kwargs(url: str, database: str | None = None) -> dict:
    u = make_url(url)
    return {"host": u.host or "127.0.0.1", "port": u.port or 5432, "user": u.username or "postgres",
            "password": u.password, "database": database or u.database or "postgres"}


async def create_database(base_url: str) -> str:
    name = f"mentorkit_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(**_pg_kwargs(base_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(base_url: str, url: str) -> None:
    conn = await asyncpg.connect(**_pg_kwargs(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(url: str, sessions: int, points: int, todos: int, log_entries: int) -> tuple[str, int]:
    """Bulk-load the data with COPY; returns (API token, sessions inside the 90-day window)."""
    db = Database(url)
    try:
        await migrate.upgrade(db, ["coaching"])
    finally:
        await db.dispose()
    from core.auth.passwords import hash_password

    conn = await asyncpg.connect(**_pg_kwargs(url, make_url(url).database))
    rng = random.Random(7)
    try:
        now = dt.datetime.now(UTC)
        admin_id, coach_id, agent_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        password = await hash_password("benchmark-password")
        await conn.copy_records_to_table(
            "users",
            columns=["id", "email", "password_hash", "fullname", "role_id", "email_verified",
                     "tutor_application_status", "account_status", "is_active", "record_version",
                     "created_at", "updated_at"],
            records=[(uid, f"{role}@bench.example", password, name, role, True, "none", "active", True, 1, now, now)
                     for uid, role, name in ((admin_id, "admin", "Bench Admin"), (coach_id, "tutor", "Bench Coach"),
                                             (agent_id, "student", "Bench Agent"))],
        )
        token = new_api_token()
        await conn.execute(
            "INSERT INTO api_tokens (id, name, token_hash, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6)",
            str(uuid.uuid4()), "bench", hash_api_token(token), admin_id, now, now + dt.timedelta(days=90),
        )
        window_start = dt.datetime.combine(START, dt.time(), tzinfo=UTC)
        span = dt.timedelta(days=DAYS + 1).total_seconds()
        batch = 10_000
        for offset in range(0, sessions, batch):
            s_rows, p_rows, pl_rows, t_rows, tl_rows, a_rows = [], [], [], [], [], []
            for n in range(offset, min(offset + batch, sessions)):
                sid = _id()
                meeting = window_start + dt.timedelta(seconds=rng.random() * span)
                created = meeting - dt.timedelta(days=rng.randint(0, 5))
                s_rows.append((sid, f"Weekly 1:1 #{n}", "tpl-1", "Weekly 1:1", "video", coach_id, "Bench Coach",
                               coach_id, "Bench Coach", agent_id, "Bench Agent", created, created, n % 2 == 0,
                               meeting, False, n % 3 == 0, "Coach notes " * 8, "", n % 50 == 0))
                for k in range(points):
                    pid = _id()
                    p_rows.append((pid, "opportunity", "qa", f"T-{n}-{k}", "Refund request", "Support QA",
                                   "Empathy", "", "4/5", "", "Point notes", coach_id, created, created, k == 1))
                    pl_rows.append((pid, sid, 0))
                for k in range(todos):
                    tid = _id()
                    t_rows.append((tid, "read", None, created, coach_id, "Bench Coach", "Read the article", "",
                                   "open", f"To-do {k}", "reading", created, False))
                    tl_rows.append((tid, sid, 0))
                for k in range(log_entries):
                    a_rows.append((sid, coach_id, "coach@bench.example", "created" if k == 0 else "updated",
                                   '["coachNotes changed"]', created + dt.timedelta(minutes=k), "127.0.0.1"))
            await conn.copy_records_to_table("coaching_sessions", records=s_rows, columns=[
                "id", "coaching_form_name", "coaching_template_id", "coaching_template_name", "meeting_format",
                "form_creator_id", "form_creator_name", "coach_id", "coach_name", "agent_id", "agent_name",
                "created_at", "updated_at", "shared_with_agent", "meeting_date", "agent_confirmed", "coach_confirmed",
                "coach_notes", "agent_notes", "is_deleted"])
            if p_rows:
                await conn.copy_records_to_table("coaching_points", records=p_rows, columns=[
                    "id", "type", "classification", "ticket_id", "subject", "rubric_name", "criteria_name",
                    "kpi_name", "score", "agent_notes", "coach_notes", "creator_id", "created_at", "updated_at",
                    "is_deleted"])
                await conn.copy_records_to_table("coaching_point_sessions", records=pl_rows,
                                                 columns=["point_id", "session_id", "position"])
            if t_rows:
                await conn.copy_records_to_table("coaching_todos", records=t_rows, columns=[
                    "id", "action_string", "completed_at", "created_at", "creator_id", "creator_name", "description",
                    "link", "status", "title", "type", "updated_at", "is_deleted"])
                await conn.copy_records_to_table("coaching_todo_sessions", records=tl_rows,
                                                 columns=["todo_id", "session_id", "position"])
            if a_rows:
                await conn.copy_records_to_table("coaching_activity_log", records=a_rows, columns=[
                    "session_id", "user_id", "user_email", "action_type", "descriptions", "timestamp", "ip_address"])
        await conn.execute("ANALYZE")
        inside = await conn.fetchval(
            "SELECT count(*) FROM coaching_sessions WHERE meeting_date >= $1 AND meeting_date <= $2",
            window_start, window_start + dt.timedelta(days=DAYS, hours=23, minutes=59, seconds=59, microseconds=999000),
        )
    finally:
        await conn.close()
    return token, inside


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the server has used (so a busy machine does not hide its cost)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reset_peak(pid: int) -> bool:
    """Reset the server's VmHWM to its current RSS, so the peak measured is the export's."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env
    )


async def _wait_ready(base: str, proc: subprocess.Popen, seconds: float = 30, path: str = "/health") -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                async with http.get(base + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start")


async def run_export(base: str, token: str, pid: int) -> dict:
    body = {"startDate": START.isoformat(), "endDate": (START + dt.timedelta(days=DAYS)).isoformat(),
            "timeAxis": "meetingDate"}
    rss_before = _proc_kb(pid, "VmRSS")
    hwm_reset = _reset_peak(pid)
    cpu_before = _cpu_seconds(pid)
    samples = [rss_before]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append(_proc_kb(pid, "VmRSS"))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    chunks: list[bytes] = []
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        started = time.perf_counter()
        async with http.post(base + "/api/v1/coaching-sessions", json=body, headers={"apiToken": token}) as resp:
            first_byte = None
            async for chunk in resp.content.iter_chunked(1 << 16):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                chunks.append(chunk)
            status = resp.status
        elapsed = time.perf_counter() - started
    stop.set()
    await sampler
    cpu = _cpu_seconds(pid) - cpu_before
    peak = max(_proc_kb(pid, "VmHWM") if hwm_reset else 0, max(samples))
    raw = b"".join(chunks)
    exported = orjson.loads(raw)
    return {"status": status, "sessions": len(exported), "bytes": len(raw), "seconds": elapsed,
            "first_byte": first_byte or elapsed, "rss_before_kb": rss_before, "rss_peak_kb": peak, "cpu": cpu,
            "children": sum(len(s["coachingPoints"]) + len(s["todos"]) + len(s["activityLog"]) for s in exported)}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "MENTORKIT_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--points", type=int, default=2)
    parser.add_argument("--todos", type=int, default=1)
    parser.add_argument("--log-entries", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    url = await create_database(args.database_url)
    proc = None
    try:
        t0 = time.perf_counter()
        token, inside = await seed(url, args.sessions, args.points, args.todos, args.log_entries)
        print(f"seeded {args.sessions} sessions ({inside} in the window) in {time.perf_counter() - t0:.1f} s")

        port = _free_port()
        env = {**os.environ, "MENTORKIT_DATABASE_URL": url, "MENTORKIT_PLUGINS": "coaching",
               "MENTORKIT_SERVER_ACCESS_LOG": "false", "MENTORKIT_SERVER_LOG_LEVEL": "WARNING",
               "MENTORKIT_AUTH_JWT_SECRET": "bench-" + "x" * 40, "MENTORKIT_TASKS_ENABLED": "false",
               "MENTORKIT_COACHING_EXPORT_CHUNK_SIZE": str(args.chunk_size)}
        proc = start_server(env, port)
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base, proc)
        result = await run_export(base, token, proc.pid)
        assert result["status"] == 200, result
        assert result["sessions"] == inside, (result["sessions"], inside)
        growth = (result["rss_peak_kb"] - result["rss_before_kb"]) / 1024
        print(f"exported {result['sessions']} sessions ({result['children']} points/to-dos/log entries, "
              f"{result['bytes'] / 1e6:.1f} MB) in {result['seconds']:.2f} s: "
              f"{result['sessions'] / result['seconds']:.0f} sessions/s, first byte after "
              f"{result['first_byte'] * 1000:.0f} ms")
        print(f"server CPU {result['cpu']:.2f} s: {result['sessions'] / max(result['cpu'], 1e-9):.0f} sessions per CPU second")
        print(f"server RSS {result['rss_before_kb'] / 1024:.1f} MB before, peak {result['rss_peak_kb'] / 1024:.1f} MB "
              f"during the export (growth {growth:.1f} MB; the response body is {result['bytes'] / 1e6:.1f} MB)")
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"kept {url}")
        else:
            await drop_database(args.database_url, url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

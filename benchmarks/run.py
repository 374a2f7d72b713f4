"""One command for the benchmarks: `python -m benchmarks.run` (or `make bench`).

On PostgreSQL + Redis it creates a scratch database, seeds 10,000 questions with tags,
200 coaches and 50,000 coaching sessions, then in one run:
1. serves Mentorkit (production settings, access log off, N workers) and the bare
   aiohttp + asyncpg baseline (N processes) and drives `GET /qna/pending/` on both with
   the same load generator at 64 connections;
2. fires `POST /qna/lock/` from 200 concurrent coaches and checks the invariants
   (one live order per question, at most 3 per coach) in the database;
3. streams the 90-day coaching export and measures sessions/s and the server's RSS.
Results go to stdout and, with --write, into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

from benchmarks import coaching_export as export_bench
from benchmarks.loadgen import LoadResult, drive
from benchmarks.qna_seed import PASSWORD, seed_qna
from core import migrate
from core.db import Database

ROOT = Path(__file__).resolve().parent.parent


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


async def _login(base: str, email: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/login", json={"username": email, "password": PASSWORD}) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"login failed: {resp.status} {body}")
            return body["accessToken"]


async def _lock_storm(base: str, tokens: list[str], aliases: list[str], seconds: float) -> tuple[Counter, float]:
    """Every coach loops: take a random hot question; on success cancel it again."""
    statuses: Counter = Counter()
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=len(tokens))
    async with aiohttp.ClientSession(connector=connector) as http:

        async def coach(token: str, rng: random.Random) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            while time.perf_counter() < deadline:
                alias = rng.choice(aliases)
                async with http.post(base + "/qna/lock/", json={"qna": alias, "status": "PD"}, headers=headers) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
                if resp.status == 201 and rng.random() < 0.5:
                    async with http.post(base + "/qna/lock/", json={"qna": alias, "status": "CL"},
                                         headers=headers) as resp:
                        await resp.read()
                        statuses[resp.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(coach(t, random.Random(i)) for i, t in enumerate(tokens)))
        elapsed = time.perf_counter() - started
    return statuses, elapsed


async def _violations(conn: asyncpg.Connection, max_orders: int) -> tuple[int, int]:
    per_question = await conn.fetchval(
        "SELECT count(*) FROM (SELECT qna_id FROM qna_orders WHERE status = 'PD' AND expiration > now() "
        "GROUP BY qna_id HAVING count(*) > 1) q")
    per_coach = await conn.fetchval(
        "SELECT count(*) FROM (SELECT coach_id FROM qna_orders WHERE status = 'PD' AND expiration > now() "
        "GROUP BY coach_id HAVING count(*) > $1) c", max_orders)
    return per_question, per_coach


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "MENTORKIT_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("MENTORKIT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--coaches", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS.md")
    args = parser.parse_args()

    url = await export_bench.create_database(args.database_url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    mentorkit = baseline = None
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    try:
        db = Database(url)
        await migrate.upgrade(db, ["qna", "coaching"])
        await db.dispose()
        t0 = time.perf_counter()
        conn = await asyncpg.connect(dsn)
        coaches = await seed_qna(conn, questions=args.questions, coaches=args.coaches)
        await conn.close()
        api_token, inside = await export_bench.seed(url, args.sessions, 2, 1, 3)
        say(f"seeded {args.questions} questions, {args.coaches} coaches, {args.sessions} coaching sessions "
            f"in {time.perf_counter() - t0:.1f} s")

        port, base_port = export_bench._free_port(), export_bench._free_port()
        env = {**os.environ, "MENTORKIT_DATABASE_URL": url, "MENTORKIT_REDIS_URL": args.redis_url,
               "MENTORKIT_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:", "MENTORKIT_PLUGINS": "qna,coaching",
               "MENTORKIT_SERVER_ACCESS_LOG": "false", "MENTORKIT_SERVER_LOG_LEVEL": "WARNING",
               "MENTORKIT_AUTH_JWT_SECRET": "bench-" + "x" * 40, "MENTORKIT_RATELIMIT_DEFAULT": "1000000/minute",
               "MENTORKIT_AUTH_LOGIN_LIMIT": "100000/minute"}
        mentorkit = _start([sys.executable, "-m", "core.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                            "--workers", str(args.workers)], env)
        baseline = _start([sys.executable, "-m", "benchmarks.baseline", dsn, str(base_port), str(args.workers)], env)
        mk_base, bl_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{base_port}"
        await export_bench._wait_ready(mk_base, mentorkit)
        await export_bench._wait_ready(bl_base, baseline, path="/qna/pending/")

        token = await _login(mk_base, coaches[0])
        page = "/qna/pending/?page=3&page_size=20"
        drive(mk_base + page, token, args.connections, 3)  # warm up both
        drive(bl_base + page, token, args.connections, 3)
        mk: LoadResult = drive(mk_base + page, token, args.connections, args.seconds)
        bl: LoadResult = drive(bl_base + page, token, args.connections, args.seconds)
        say(f"GET {page} at {args.connections} connections, {args.workers} workers each, {args.seconds:.0f} s:")
        say(f"  mentorkit {mk.row()}")
        say(f"  baseline  {bl.row()}")
        say(f"  ratio mentorkit/baseline: {mk.rps / bl.rps:.2f}x")

        tokens = await asyncio.gather(*(_login(mk_base, email) for email in coaches))
        conn = await asyncpg.connect(dsn)
        aliases = [r["alias"] for r in await conn.fetch(
            "SELECT alias FROM qna_questions ORDER BY created_at DESC LIMIT 300")]
        statuses, elapsed = await _lock_storm(mk_base, list(tokens), aliases, args.seconds)
        per_question, per_coach = await _violations(conn, 3)
        await conn.close()
        total = sum(statuses.values())
        say(f"POST /qna/lock/ from {len(tokens)} concurrent coaches on 300 hot questions, {elapsed:.0f} s: "
            f"{total / elapsed:.0f} req/s; statuses {dict(sorted(statuses.items()))}; "
            f"invariant violations: {per_question} questions with >1 live order, {per_coach} coaches with >3")

        # The export on a one-worker server, so the process measured is the one serving it.
        _stop(mentorkit)
        mentorkit = _start([sys.executable, "-m", "core.cli", "serve", "--host", "127.0.0.1", "--port", str(port)], env)
        await export_bench._wait_ready(mk_base, mentorkit)
        result = await export_bench.run_export(mk_base, api_token, mentorkit.pid)
        growth = (result["rss_peak_kb"] - result["rss_before_kb"]) / 1024
        say(f"90-day coaching export: {result['sessions']} sessions ({inside} expected, {result['bytes'] / 1e6:.0f} MB) "
            f"in {result['seconds']:.2f} s = {result['sessions'] / result['seconds']:.0f} sessions/s; "
            f"server RSS growth {growth:.1f} MB")
        if args.write:
            _write_results(lines, args)
        return 0 if per_question == 0 and per_coach == 0 else 1
    finally:
        _stop(mentorkit)
        _stop(baseline)
        await export_bench.drop_database(args.database_url, url)


def _write_results(lines: list[str], args: argparse.Namespace) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    block = "\n".join(["", f"## Run of {stamp}", "", f"Machine: {_machine()}.", "",
                       f"Command: `python -m benchmarks.run --workers {args.workers} --seconds {args.seconds:.0f}`", "",
                       "```", *lines, "```", ""])
    previous = path.read_text() if path.exists() else "# Benchmark results\n"
    path.write_text(previous.rstrip("\n") + "\n" + block)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

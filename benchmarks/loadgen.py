"""Closed-loop HTTP load: `connections` workers each send the next request as soon as the
last one answered, for `duration` seconds. Uses wrk when it is installed (it does not
compete with the servers for the GIL), else a bundled asyncio client.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

import aiohttp


@dataclass
class LoadResult:
    tool: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def row(self) -> str:
        return f"{self.rps:9.0f} req/s  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms  errors {self.errors} ({self.tool})"


_WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  io.write(string.format("MK p50=%f p99=%f requests=%d errors=%d duration=%f\\n",
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    summary.duration))
end
"""


def run_wrk(url: str, token: str, connections: int, duration: float, threads: int = 2) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT.replace("{token}", token))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", "--latency", "-s", script.name, url],
        capture_output=True, text=True, check=True,
    ).stdout
    match = re.search(r"MK p50=([\d.]+) p99=([\d.]+) requests=(\d+) errors=(\d+) duration=([\d.]+)", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    p50_us, p99_us, requests, errors, duration_us = match.groups()
    return LoadResult("wrk", int(requests), int(errors), float(duration_us) / 1e6, float(p50_us) / 1000, float(p99_us) / 1000)


async def run_asyncio(url: str, token: str, connections: int, duration: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=connections)

    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99_index = max(0, int(len(latencies) * 0.99) - 1)
    return LoadResult(
        "asyncio client",
        len(latencies),
        errors,
        elapsed,
        statistics.median(latencies) * 1000 if latencies else 0.0,
        latencies[p99_index] * 1000 if latencies else 0.0,
    )


def drive(url: str, token: str, connections: int = 64, duration: float = 15.0) -> LoadResult:
    if shutil.which("wrk"):
        return run_wrk(url, token, connections, duration)
    return asyncio.run(run_asyncio(url, token, connections, duration))

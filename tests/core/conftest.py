"""Fixtures shared by the core tests.

Redis: a unique key prefix per test (cleaned up afterwards), the URL of a Redis that is
down, and a wall clock for the rate limiter so windows are crossed without sleeping.
"""
from __future__ import annotations

import socket
import time
import uuid
from typing import Iterator

import pytest


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """`mk-test-<random>:` so parallel runs and both database backends never collide."""
    import redis

    prefix = f"mk-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def down_redis_url() -> str:
    """A Redis URL on a local port nobody listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


class WallClock:
    """Stands in for the `time` module where `limits` and the limiter read wall time,
    so windows can be crossed without sleeping. Everything else is the real module."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    import limits.aio.storage.memory
    import limits.aio.storage.redis.redispy

    import core.ratelimit

    clock = WallClock()
    for module in (limits.aio.storage.memory, limits.aio.storage.redis.redispy, core.ratelimit):
        monkeypatch.setattr(module, "time", clock)
    return clock

"""Fixtures for the coaching tests (helpers live in coaching_world.py)."""

from __future__ import annotations

import pytest
from coaching_world import LimiterClock, World, make_world

from core.testing import Kit

_HASHES: dict[str, str] = {}


@pytest.fixture
def cached_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash each distinct password once per test session (argon2 is deliberately slow);
    the users are still real and their passwords still verify."""
    from core.auth import passwords, services

    real = passwords.hash_password

    async def cached(password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = await real(password)
        return _HASHES[password]

    monkeypatch.setattr(services, "hash_password", cached)


@pytest.fixture
async def world(kit: Kit, cached_password_hashes: None) -> World:
    return await make_world(kit)


@pytest.fixture
def limiter_clock(monkeypatch: pytest.MonkeyPatch) -> LimiterClock:
    """Freeze the clock the rate limiter counts with, so windows pass without sleeping."""
    import limits.aio.storage.memory
    import limits.aio.storage.redis.redispy

    import core.ratelimit

    clock = LimiterClock()
    fake = clock.module()
    for module in (limits.aio.storage.memory, limits.aio.storage.redis.redispy, core.ratelimit):
        monkeypatch.setattr(module, "time", fake)
    return clock

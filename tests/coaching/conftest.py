"""Fixtures for the coaching tests (helpers live in coaching_world.py)."""

from __future__ import annotations

import pytest
from coaching_world import LimiterClock, World, make_world

from core.testing import Kit


@pytest.fixture
async def world(kit: Kit) -> World:
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

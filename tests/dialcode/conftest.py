"""Fixtures for the DIAL code tests (helpers live in dialcode_world.py)."""

from __future__ import annotations

import pytest
from dialcode_world import World, make_world

from core.testing import Kit


@pytest.fixture
async def world(kit: Kit) -> World:
    return await make_world(kit)

"""Fixtures for the QnA tests (helpers live in qna_world.py)."""

from __future__ import annotations

import pytest
from qna_world import QnaWorld, make_world

from core.testing import Kit


@pytest.fixture
async def world(kit: Kit) -> QnaWorld:
    return await make_world(kit)

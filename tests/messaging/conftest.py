"""Fixtures for the messaging tests (helpers live in chat_world.py)."""

from __future__ import annotations

from typing import Any

import pytest
from chat_world import FAST, PLUGINS, make_chat

from core.testing import Kit


@pytest.fixture
async def chat(kit: Kit) -> Any:
    client = await kit.client(PLUGINS, messaging=FAST)
    chat = await make_chat(kit, client)
    yield chat
    for ws in chat.sockets:
        await ws.close()

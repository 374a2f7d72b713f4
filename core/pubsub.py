"""Publish/subscribe for realtime fan-out (in-process or Redis). (Being implemented for issue 3.)"""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    yield


async def pubsub_ctx(app: web.Application) -> AsyncIterator[None]:
    yield

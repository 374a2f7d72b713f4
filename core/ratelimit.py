"""Rate limiting with `limits` (memory or Redis). (Being implemented for issue 3.)"""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def ratelimit_ctx(app: web.Application) -> AsyncIterator[None]:
    yield

"""Email backends (SMTP / console). (Being implemented for issue 3.)"""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def mailer_ctx(app: web.Application) -> AsyncIterator[None]:
    yield

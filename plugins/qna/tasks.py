"""Background task: the expiry sweep (`qna.expire_orders`, every minute by default)."""

from __future__ import annotations

import logging

from aiohttp import web

from . import services

log = logging.getLogger("mentorkit.qna")


async def expire_orders(app: web.Application) -> None:
    """Make stored statuses catch up with expirations (queries already treat them as cancelled)."""
    count = await services.expire_orders(app)
    if count:
        log.info("qna: %d expired order(s) cancelled", count)

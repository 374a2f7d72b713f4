"""Small asyncio helpers shared by the core's background machinery (tasks, pub/sub,
rate limiting): stopping tasks reliably and logging a dependency outage sparingly."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Any, Iterable

log = logging.getLogger("mentorkit.aio")


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], grace: float, *, retry_every: float = 0.1) -> set:
    """Cancel `tasks` and wait until they are done; returns those still running after `grace` seconds.

    One `cancel()` is not always enough on Python 3.11: `asyncio.wait_for` (which
    redis-py uses around socket writes) drops a cancellation that races with the inner
    operation completing (fixed in 3.12). So the cancellation is repeated until the
    task is really done, and callers also check their own stop flag.
    """
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(retry_every, remaining))
    for task in pending:
        stack = task.get_stack()
        where = "".join(traceback.format_list(traceback.extract_stack(stack[-1]))) if stack else ""
        log.error("task %s did not stop within %ss of being cancelled; it is at:\n%s", task.get_name(), grace, where)
    return pending


class OutageLog:
    """Logs a dependency outage once per `interval` seconds instead of once per request,
    and once more when it recovers, so an outage cannot flood the logs."""

    def __init__(self, logger: logging.Logger, what: str, interval: float = 60.0) -> None:
        self.logger = logger
        self.what = what
        self.interval = interval
        self.down = False
        self._last = float("-inf")
        self._suppressed = 0

    def failed(self, exc: BaseException, consequence: str) -> None:
        self.down = True
        now = time.monotonic()
        if now - self._last < self.interval:
            self._suppressed += 1
            return
        extra = f" ({self._suppressed} similar failures not logged)" if self._suppressed else ""
        self.logger.warning("%s unreachable: %s; %s%s", self.what, str(exc) or type(exc).__name__, consequence, extra)
        self._last = now
        self._suppressed = 0

    def recovered(self) -> None:
        if self.down:
            self.down = False
            self._last = float("-inf")
            self._suppressed = 0
            self.logger.warning("%s reachable again", self.what)

"""Background tasks: `TaskSpec(name, run, every)` run by a supervisor inside the server.

(Supervisor: being implemented for issue 3.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

TaskFunc = Callable[[web.Application], Awaitable[None]]


@dataclass(frozen=True)
class TaskSpec:
    """A background task. `every` seconds for a periodic task (run on one worker at a
    time across the cluster); None for a long-running task started once per worker."""

    name: str
    run: TaskFunc
    every: float | None = None


async def supervisor_ctx(app: web.Application) -> AsyncIterator[None]:
    yield

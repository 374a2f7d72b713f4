"""Per-app realtime state: the open sockets, typing timers, session re-checks, shutdown.

Everything here is local to one worker; what must reach other workers goes through
pub/sub (`events.py`). Open sockets are tracked in a WeakSet on the app
(`SOCKETS`), which the `on_shutdown` handler closes with 1001 (going away), and
which the session checker walks to close sockets whose session was revoked (4401).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator

from aiohttp import web
from sqlalchemy import select

from core.auth.models import ApiToken, AuthSession, User
from core.keys import DB, SETTINGS

from . import events, services

if TYPE_CHECKING:
    from .ws import ChatSocket

log = logging.getLogger("mentorkit.messaging")

HUB = web.AppKey("messaging_hub", "ChatHub")
SOCKETS = web.AppKey("messaging_sockets", weakref.WeakSet)

CLOSE_GOING_AWAY = 1001
CLOSE_SESSION_REVOKED = 4401
CHECK_CHUNK = 500


@dataclass
class Typing:
    last_sent: float
    timer: asyncio.TimerHandle | None = field(default=None)


def configure(app: web.Application) -> None:
    """Build time: the socket registry and the shutdown handler (the app is not frozen yet)."""
    app[SOCKETS] = weakref.WeakSet()
    app.on_shutdown.append(close_all_sockets)


async def close_all_sockets(app: web.Application) -> None:
    """on_shutdown: every open chat socket is closed with 1001 before the server stops."""
    sockets = list(app.get(SOCKETS, ()))
    if sockets:
        await asyncio.gather(*(s.close(CLOSE_GOING_AWAY, "server shutting down") for s in sockets), return_exceptions=True)


class ChatHub:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.config = app[SETTINGS].section("messaging")
        self.listening = False
        self._typing: dict[tuple[str, str], Typing] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def sockets(self) -> list["ChatSocket"]:
        return [s for s in list(self.app[SOCKETS]) if not s.closing]

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("messaging background task failed", exc_info=task.exception())

    # --- typing: nothing stored; throttled, auto-stopped -------------------------------------------

    async def typing_start(self, actor: services.Actor, room_id: str) -> None:
        key = (room_id, actor.user_id)
        state = self._typing.get(key)
        mono = time.monotonic()
        if state is None or mono - state.last_sent >= self.config.typing_throttle_seconds:
            await services.check_may_type(self.app, actor, room_id)
            state = self._typing.get(key)
            if state is None:
                state = self._typing[key] = Typing(last_sent=mono)
            state.last_sent = mono
            await events.typing(self.app, room_id, actor.user_id, True)
        self._arm(key, state)

    def _arm(self, key: tuple[str, str], state: Typing) -> None:
        if state.timer is not None:
            state.timer.cancel()
        loop = asyncio.get_running_loop()
        state.timer = loop.call_later(self.config.typing_timeout_seconds, lambda: self.spawn(self._auto_stop(key, state)))

    async def _auto_stop(self, key: tuple[str, str], state: Typing) -> None:
        if self._typing.get(key) is state:
            del self._typing[key]
            await events.typing(self.app, key[0], key[1], False)

    async def typing_stop(self, actor: services.Actor, room_id: str) -> None:
        key = (room_id, actor.user_id)
        state = self._typing.pop(key, None)
        if state is None:
            await services.check_may_type(self.app, actor, room_id)  # a stranger still learns nothing
            return
        if state.timer is not None:
            state.timer.cancel()
        await events.typing(self.app, room_id, actor.user_id, False)

    # --- sessions ---------------------------------------------------------------------------------------

    async def check_sessions(self, user_id: str | None = None) -> int:
        """Close (4401) sockets whose session or API token was revoked or expired, whose
        account is no longer active, or whose role changed. Returns how many closed."""
        sockets = [s for s in self.sockets if user_id is None or s.user_id == user_id]
        if not sockets:
            return 0
        sessions = sorted({s.identity.session_id for s in sockets if s.identity.session_id})
        tokens = sorted({s.identity.api_token_id for s in sockets if s.identity.api_token_id})
        live: dict[str, str] = {}
        now = dt.datetime.now(dt.timezone.utc)  # the Authenticator's clock: token validity is real time
        async with self.app[DB].session() as session:
            for model in (AuthSession, ApiToken):
                ids = sessions if model is AuthSession else tokens
                for start in range(0, len(ids), CHECK_CHUNK):
                    rows = await session.execute(
                        select(model.id, User.role_id)
                        .join(User, User.id == model.user_id)
                        .where(
                            model.id.in_(ids[start:start + CHECK_CHUNK]),
                            model.revoked_at.is_(None),
                            model.expires_at > now,
                            User.is_active.is_(True),
                            User.account_status == "active",
                        )
                    )
                    live.update({row[0]: row[1] for row in rows})
        doomed = [
            s for s in sockets
            if live.get(s.identity.session_id or s.identity.api_token_id or "") != s.identity.role
        ]
        await asyncio.gather(*(s.close(CLOSE_SESSION_REVOKED, "session revoked") for s in doomed), return_exceptions=True)
        return len(doomed)

    async def _session_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.session_check_seconds)
            try:
                await self.check_sessions()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking chat socket sessions failed")

    async def stop(self) -> None:
        for state in self._typing.values():
            if state.timer is not None:
                state.timer.cancel()
        self._typing.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@asynccontextmanager
async def hub_lifespan(app: web.Application) -> AsyncIterator[None]:
    hub = ChatHub(app)
    app[HUB] = hub
    if SOCKETS not in app:  # an app built without configure_app (should not happen)
        raise RuntimeError("messaging: configure_app did not run")
    checker = asyncio.create_task(hub._session_loop(), name="messaging-session-check")
    hub.listening = True
    try:
        yield
    finally:
        hub.listening = False
        checker.cancel()
        await asyncio.gather(checker, return_exceptions=True)
        await close_all_sockets(app)
        await hub.stop()

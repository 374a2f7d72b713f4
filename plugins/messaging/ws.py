"""`GET /v1/chat/ws`: the realtime chat protocol (§2.4).

Frames are JSON text `{"event", "data", "ref"}`. A bad frame (invalid JSON, an
unknown event, missing fields, a room the caller is not in) is answered with an
`error` frame and the socket stays open. Each socket writes through a bounded
queue drained by one writer task; a client that falls that far behind is closed
with 1013 and resyncs over REST (`after=<last message id>`) when it reconnects.

`message:send` is persisted (committed) before it is acked and broadcast, inside a
shielded task: a socket dropped mid-send still ends with the message stored once
and delivered to the room, never half-done.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from core.envelopes import TutorhubStyle
from core.errors import ApiError, BadRequest, ServerError, TooManyRequests
from core.jsonutil import dumps, loads
from core.keys import IDENTITY, PUBSUB, RATE_LIMITER, SETTINGS

from . import events, schemas, services
from .hub import HUB, SOCKETS

log = logging.getLogger("mentorkit.messaging")

CLOSE_TOO_SLOW = 1013
CLOSE_INTERNAL = 1011
MAX_FRAME = 256 * 1024
SEND_BUCKET = "messaging-send"


class ChatSocket:
    """One client connection: its identity, joined rooms, subscriptions and send queue."""

    def __init__(self, app: web.Application, ws: web.WebSocketResponse, identity: Any) -> None:
        config = app[SETTINGS].section("messaging")
        self.id = uuid.uuid4().hex
        self.app = app
        self.ws = ws
        self.identity = identity
        self.actor = services.Actor.of(identity)
        self.user_id: str = identity.user_id
        self.queue_size: int = config.send_queue_size
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=self.queue_size)
        self.rooms: dict[str, asyncio.Task[None]] = {}
        self.closing = False
        self._user_pump: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._seen: collections.deque[str] = collections.deque(maxlen=512)

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())
        self._user_pump = await self._subscribe(events.user_channel(self.user_id))

    async def _subscribe(self, channel: str) -> asyncio.Task[None]:
        """A pump task for `channel`, returned once the subscription is live."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._pump(channel, ready))
        try:
            await ready
        except BaseException:
            task.cancel()
            raise
        return task

    async def _pump(self, channel: str, ready: asyncio.Future[None]) -> None:
        try:
            async with self.app[PUBSUB].subscribe(channel, maxsize=self.queue_size) as subscription:
                ready.set_result(None)
                async for _, message in subscription:
                    self.deliver(message)
                if subscription.overflowed:
                    self.fail(CLOSE_TOO_SLOW, "too far behind")
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
                return
            log.exception("chat subscription to %s failed", channel)
            self.fail(CLOSE_INTERNAL, "subscription lost")

    async def _write_loop(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                await self.ws.send_str(text)
        except (ConnectionResetError, RuntimeError):
            self.fail(CLOSE_INTERNAL, "write failed")  # the transport is gone; the reader loop ends too

    def fail(self, code: int, reason: str) -> None:
        """Close from inside a callback or pump (never awaits)."""
        if self._close_task is None and not self.closing:
            self._close_task = asyncio.ensure_future(self.close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        await self._stop_tasks()
        try:
            await self.ws.close(code=code, message=reason.encode())
        except Exception:  # already gone
            pass

    async def _stop_tasks(self) -> None:
        tasks = [t for t in (self._writer, self._user_pump, *self.rooms.values()) if t is not None]
        self.rooms.clear()
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not current), return_exceptions=True)

    async def finish(self) -> None:
        """The reader loop ended: release everything (idempotent)."""
        self.closing = True
        await self._stop_tasks()

    # --- rooms -----------------------------------------------------------------------------------------

    async def join(self, room_id: str) -> None:
        if room_id not in self.rooms:
            self.rooms[room_id] = await self._subscribe(events.room_channel(room_id))

    def leave(self, room_id: str) -> None:
        task = self.rooms.pop(room_id, None)
        if task is not None:
            task.cancel()

    # --- outbound --------------------------------------------------------------------------------------

    def deliver(self, message: dict[str, Any]) -> None:
        """A pub/sub envelope: apply its targeting, then queue the frame once per socket.

        An event is marked seen only once it is delivered here: a copy meant for others
        (the room's admins) that arrives first must not swallow the copy meant for us.
        """
        if message.get("leave"):
            self.leave(message["leave"])
        if message.get("excludeSocket") == self.id or self.user_id in message.get("excludeUsers", ()):
            return
        audience = message.get("audience", "all")
        if (audience == "admins" and not self.actor.is_admin) or (audience == "nonAdmins" and self.actor.is_admin):
            return
        eid = message.get("eid")
        if eid in self._seen:
            return
        if eid:
            self._seen.append(eid)
        self.send(message["event"], message.get("data", {}))

    def send(self, event: str, data: dict[str, Any], ref: Any = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if ref is not None:
            frame["ref"] = ref
        if self.closing:
            return
        try:
            self.queue.put_nowait(dumps(frame).decode())
        except asyncio.QueueFull:
            self.fail(CLOSE_TOO_SLOW, "send queue full")

    def error(self, ref: Any, err: ApiError) -> None:
        self.send("error", {
            "ref": ref,
            "code": err.status,
            "message": TutorhubStyle.message_key(err.code),
            "detail": err.message,
        }, ref)


# --- inbound frames -----------------------------------------------------------------------------------

Handler = Callable[[ChatSocket, dict[str, Any], Any], Awaitable[None]]


async def on_join(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    room_id = schemas.load_frame(schemas.RoomFrame(), data)["roomId"]
    await services.readable_conversation(sock.app, sock.actor, room_id)
    await sock.join(room_id)  # subscribed before the snapshot, so nothing falls in between
    try:
        conv, states, own = await services.join_room(sock.app, sock.actor, room_id)
    except BaseException:
        sock.leave(room_id)
        raise
    sock.send("room:joined", {
        "roomId": conv.id,
        "conversation": schemas.conversation_out(conv),
        "readStates": [schemas.read_state_out(s) for s in states],
        "moderation": [schemas.moderation_out(m) for m in own],
    }, ref)


async def on_leave(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    sock.leave(schemas.load_frame(schemas.RoomFrame(), data)["roomId"])


async def on_send(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    frame = schemas.load_frame(schemas.SendFrame(), data)
    limiter = sock.app.get(RATE_LIMITER)
    if limiter is not None:
        try:
            await limiter.hit_key(SEND_BUCKET, f"user:{sock.user_id}")
        except TooManyRequests as exc:
            raise TooManyRequests(exc.message, code="errMsg_TooManyMessages") from None
    # Shielded: once started, storing, acking and broadcasting finish even if the socket drops.
    task = asyncio.ensure_future(_send(sock, frame, ref))
    task.add_done_callback(_log_orphan)
    await asyncio.shield(task)


def _log_orphan(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None and not isinstance(task.exception(), ApiError):
        log.error("message:send failed", exc_info=task.exception())


async def _send(sock: ChatSocket, frame: dict[str, Any], ref: Any) -> None:
    message, conv, created = await services.send_message(
        sock.app,
        sock.actor,
        frame["roomId"],
        frame["messageType"],
        frame["content"],
        reply_to_id=(frame.get("replyTo") or {}).get("id"),
        client_msg_id=frame.get("clientMsgId"),
    )
    sock.send("message:ack", {"ref": ref, "clientMsgId": frame.get("clientMsgId"), "message": schemas.message_out(message)}, ref)
    if created:
        await events.message_new(sock.app, message, exclude_socket=sock.id)
        await events.conversation_updated(sock.app, conv)


async def on_typing_start(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    await sock.app[HUB].typing_start(sock.actor, schemas.load_frame(schemas.RoomFrame(), data)["roomId"])


async def on_typing_stop(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    await sock.app[HUB].typing_stop(sock.actor, schemas.load_frame(schemas.RoomFrame(), data)["roomId"])


async def on_read(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    frame = schemas.load_frame(schemas.ReadFrame(), data)
    state, conv, moved = await services.mark_read(sock.app, sock.actor, frame["roomId"], frame["messageId"])
    if moved:
        await events.message_read(sock.app, state, conv)
        await events.conversation_updated(sock.app, conv)


async def on_moderation_apply(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    row, _ = await services.apply_moderation(sock.app, sock.actor, schemas.load_frame(schemas.ModerationApplyFrame(), data))
    await events.moderation_applied(sock.app, row)


async def on_moderation_lift(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    frame = schemas.load_frame(schemas.ModerationLiftFrame(), data)
    rows = await services.lift_moderation(sock.app, sock.actor, frame["roomId"], frame["userId"])
    await events.moderation_lifted(sock.app, rows)


async def on_ping(sock: ChatSocket, data: dict[str, Any], ref: Any) -> None:
    sock.send("pong", {}, ref)


HANDLERS: dict[str, Handler] = {
    "room:join": on_join,
    "room:leave": on_leave,
    "message:send": on_send,
    "typing:start": on_typing_start,
    "typing:stop": on_typing_stop,
    "message:read": on_read,
    "moderation:apply": on_moderation_apply,
    "moderation:lift": on_moderation_lift,
    "ping": on_ping,
}


def _ref(frame: dict[str, Any]) -> Any:
    ref = frame.get("ref")
    if isinstance(ref, (str, int)) and not isinstance(ref, bool) and len(str(ref)) <= 128:
        return ref
    return None


async def dispatch(sock: ChatSocket, text: str) -> None:
    ref = None
    try:
        try:
            frame = loads(text)
        except ValueError:
            raise BadRequest("Frames are JSON text.", code="errMsg_InvalidJson") from None
        if not isinstance(frame, dict):
            raise BadRequest("A frame is a JSON object.", code="errMsg_InvalidFrame")
        ref = _ref(frame)
        event = frame.get("event")
        handler = HANDLERS.get(event) if isinstance(event, str) else None
        if handler is None:
            raise BadRequest(f"Unknown event {event!r}.", code="errMsg_UnknownEvent")
        data = frame.get("data", {})
        if not isinstance(data, dict):
            raise BadRequest("data must be an object.", code="errMsg_InvalidFrame")
        await handler(sock, data, ref)
    except ApiError as err:
        sock.error(ref, err)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("chat frame failed")
        sock.error(ref, ServerError(code="errMsg_ServerError"))


async def chat_socket(request: web.Request) -> web.StreamResponse:
    """The chat WebSocket; the core policy authenticated the caller before the upgrade (401)."""
    app = request.app
    config = app[SETTINGS].section("messaging")
    ws = web.WebSocketResponse(heartbeat=config.heartbeat_seconds, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    sock = ChatSocket(app, ws, request[IDENTITY])
    app[SOCKETS].add(sock)
    try:
        try:
            await sock.start()
        except Exception:
            log.exception("chat socket could not subscribe")
            await sock.close(CLOSE_INTERNAL, "realtime unavailable")
            return ws
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await dispatch(sock, msg.data)
            elif msg.type == WSMsgType.BINARY:
                sock.error(None, BadRequest("Frames are JSON text, not binary.", code="errMsg_InvalidFrame"))
    finally:
        await sock.finish()
        app[SOCKETS].discard(sock)
    return ws

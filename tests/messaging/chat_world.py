"""The messaging tests' world: users, rooms, a socket client that waits for frames."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from core.keys import DB
from core.testing import Kit, KitUser
from plugins.messaging import services
from plugins.messaging.models import ChatMessage

PLUGINS = ["messaging"]
# Generous limits so tests are not throttled unless they mean to be.
FAST = {"messages_per_second": 1000, "typing_throttle_seconds": 2.0, "typing_timeout_seconds": 5.0}
WAIT = 3.0


def actor(user: KitUser) -> services.Actor:
    return services.Actor(user.id, user.role in ("admin", "superAdmin"))


class Socket:
    """A test WebSocket client that remembers frames it skipped while waiting for another."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._refs = 0

    async def send(self, event: str, data: dict[str, Any] | None = None, *, ref: str | None = None) -> str:
        self._refs += 1
        ref = ref or f"r{self._refs}"
        await self.ws.send_json({"event": event, "data": data or {}, "ref": ref})
        return ref

    async def _next(self, within: float) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=within)
        if msg.type != WSMsgType.TEXT:
            raise AssertionError(f"socket closed or non-text frame: {msg.type} {msg.data!r} {msg.extra!r}")
        return msg.json()

    async def expect(self, event: str, *, ref: str | None = None, within: float = WAIT, **match: Any) -> dict[str, Any]:
        """The data of the first frame (already buffered or arriving) with this event/ref/data fields."""

        def fits(frame: dict[str, Any]) -> bool:
            if frame.get("event") != event or (ref is not None and frame.get("ref") != ref):
                return False
            return all(frame.get("data", {}).get(k) == v for k, v in match.items())

        for i, frame in enumerate(self.frames):
            if fits(frame):
                del self.frames[i]
                return frame["data"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {event} frame (ref={ref}, {match}); got {self.frames}")
            try:
                frame = await self._next(left)
            except asyncio.TimeoutError:
                continue
            if fits(frame):
                return frame["data"]
            self.frames.append(frame)

    async def silent(self, event: str, wait: float = 0.3, **match: Any) -> None:
        """Assert no such frame arrives within `wait` seconds."""
        try:
            data = await self.expect(event, within=wait, **match)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {event}: {data}")

    async def join(self, room_id: str) -> dict[str, Any]:
        ref = await self.send("room:join", {"roomId": room_id})
        return await self.expect("room:joined", ref=ref)

    async def say(self, room_id: str, text: str, **extra: Any) -> dict[str, Any]:
        ref = await self.send("message:send", {"roomId": room_id, "messageType": "text", "content": {"text": text}, **extra})
        return (await self.expect("message:ack", ref=ref))["message"]

    async def error(self, ref: str) -> dict[str, Any]:
        return await self.expect("error", ref=ref)


@dataclass
class Chat:
    kit: Kit
    client: TestClient
    student: KitUser
    tutor: KitUser
    admin: KitUser
    other: KitUser  # a student who is in none of the rooms
    sockets: list[Any] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.client.app

    async def room(self, kind: str = "studentTutor", a: KitUser | None = None, b: KitUser | None = None,
                   by: KitUser | None = None) -> dict[str, Any]:
        a = a or (self.student if kind == "studentTutor" else self.admin)
        b = b or (self.tutor if kind != "adminStudent" else self.student)
        by = by or a
        resp = await self.client.post(
            "/v1/conversations",
            json={"conversationType": kind, "participantA": a.id, "participantB": b.id},
            headers=by.headers,
        )
        body = await resp.json()
        assert resp.status in (200, 201), body
        return body["conversation"]

    async def post(self, room_id: str, user: KitUser, text: str, **kw: Any) -> ChatMessage:
        """A message stored through the service (what message:send does, without a socket)."""
        message, _, _ = await services.send_message(
            self.app, actor(user), room_id, kw.pop("message_type", "text"), kw.pop("content", {"text": text}), **kw
        )
        return message

    async def connect(self, user: KitUser, client: TestClient | None = None) -> Socket:
        ws = await (client or self.client).ws_connect("/v1/chat/ws", headers=user.headers)
        self.sockets.append(ws)
        return Socket(ws)

    async def get(self, path: str, user: KitUser, **params: Any) -> tuple[int, dict[str, Any]]:
        resp = await self.client.get(path, headers=user.headers, params=params)
        return resp.status, await resp.json()

    async def stored(self, room_id: str) -> list[ChatMessage]:
        from sqlalchemy import select

        async with self.app[DB].session() as session:
            return list(await session.scalars(
                select(ChatMessage).where(ChatMessage.room_id == room_id).order_by(ChatMessage.seq)
            ))


async def user(kit: Kit, client: TestClient, role: str, fullname: str | None = None) -> KitUser:
    return await kit.user(client, role, fullname=fullname or role.title(), avatar=f"https://example.com/{role}.png")


async def make_chat(kit: Kit, client: TestClient) -> Chat:
    return Chat(
        kit, client,
        student=await user(kit, client, "student", "Sam Student"),
        tutor=await user(kit, client, "tutor", "Tia Tutor"),
        admin=await user(kit, client, "admin", "Ada Admin"),
        other=await user(kit, client, "student", "Otto Other"),
    )


def unique_prefix() -> str:
    return f"mk-test-{uuid.uuid4().hex[:10]}:"

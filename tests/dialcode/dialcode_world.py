"""A small DIAL code world for the tests: a client, a tutor, a publisher and helpers over HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from core.testing import Kit, KitUser

CHANNEL = "channel-a"
OTHER_CHANNEL = "channel-b"
PUBLISHER = "NCERT"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\+00:00$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RESPONSE_CODES = {200: "OK", 207: "PARTIAL_SUCCESS", 400: "CLIENT_ERROR", 401: "UNAUTHORIZED",
                  403: "FORBIDDEN", 404: "RESOURCE_NOT_FOUND", 405: "CLIENT_ERROR", 500: "SERVER_ERROR"}


def assert_envelope(body: dict[str, Any], status: int, api_id: str, *, err: str | None = None,
                    msgid: str | None = None) -> None:
    """The exact Sunbird envelope: keys, version, ts format, params and responseCode."""
    assert list(body) == ["id", "ver", "ts", "params", "responseCode", "result"], body
    assert body["id"] == api_id
    assert body["ver"] == "3.0"
    assert TS.match(body["ts"]), body["ts"]
    params = body["params"]
    assert list(params) == ["resmsgid", "msgid", "status", "err", "errmsg"]
    assert UUID.match(params["resmsgid"])
    assert params["msgid"] == msgid
    assert body["responseCode"] == RESPONSE_CODES[status]
    assert isinstance(body["result"], dict)
    if err is None:
        assert params["status"] == "successful" and params["err"] is None and params["errmsg"] is None
    else:
        assert params["status"] == "failed" and params["err"] == err and params["errmsg"]


@dataclass
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def result(self) -> dict[str, Any]:
        return self.body["result"]

    @property
    def err(self) -> str | None:
        return self.body["params"]["err"]

    @property
    def errmsg(self) -> str | None:
        return self.body["params"]["errmsg"]


@dataclass
class World:
    kit: Kit
    client: TestClient
    tutor: KitUser

    def headers(self, channel: str | None = CHANNEL, user: KitUser | None = None) -> dict[str, str]:
        headers = dict((user or self.tutor).headers)
        if channel is not None:
            headers["X-Channel-Id"] = channel
        return headers

    async def call(self, method: str, path: str, request: Any = None, *, channel: str | None = CHANNEL,
                   raw: bytes | None = None, msgid: str | None = None, user: KitUser | None = None) -> Reply:
        kwargs: dict[str, Any] = {"headers": self.headers(channel, user)}
        if raw is not None:
            kwargs["data"] = raw
            kwargs["headers"]["Content-Type"] = "application/json"
        elif request is not None:
            body: dict[str, Any] = {"id": "test", "ver": "3.0", "request": request}
            if msgid is not None:
                body["params"] = {"msgid": msgid, "did": "device", "key": ""}
            kwargs["json"] = body
        resp = await self.client.request(method, path, **kwargs)
        return Reply(resp.status, await resp.json())

    async def publisher(self, identifier: str = PUBLISHER, channel: str = CHANNEL) -> Reply:
        reply = await self.call("POST", "/dialcode/v3/publisher/create",
                                {"publisher": {"identifier": identifier, "name": f"{identifier} Publications"}},
                                channel=channel)
        assert reply.status == 200, reply.body
        return reply

    async def content(self, content_type: str = "TextBook", *, parent: str | None = None,
                      channel: str = CHANNEL, status: str | None = None, name: str = "Maths") -> str:
        data: dict[str, Any] = {"name": name, "contentType": content_type}
        if parent is not None:
            data["parent"] = parent
        if status is not None:
            data["status"] = status
        reply = await self.call("POST", "/content/v3/create", {"content": data}, channel=channel)
        assert reply.status == 200, reply.body
        return reply.result["identifier"]

    async def read(self, content_id: str, channel: str = CHANNEL) -> dict[str, Any]:
        reply = await self.call("GET", f"/content/v3/read/{content_id}", channel=channel)
        assert reply.status == 200, reply.body
        return reply.result["content"]

    async def reserve(self, content_id: str, count: Any, publisher: Any = PUBLISHER, **kw: Any) -> Reply:
        dialcodes: dict[str, Any] = {"count": count}
        if publisher is not None:
            dialcodes["publisher"] = publisher
        return await self.call("POST", f"/content/v3/dialcode/reserve/{content_id}", {"dialcodes": dialcodes}, **kw)

    async def release(self, content_id: str, count: Any = None, **kw: Any) -> Reply:
        request = {"dialcodes": {"count": count}} if count is not None else {}
        return await self.call("PATCH", f"/content/v3/dialcode/release/{content_id}", request, **kw)

    async def link(self, content_ids: list[str], codes: list[str], **kw: Any) -> Reply:
        return await self.call("POST", "/content/v3/dialcode/link",
                               {"content": {"identifier": content_ids, "dialcode": codes}}, **kw)

    async def generate(self, count: Any, publisher: Any = PUBLISHER, **extra: Any) -> Reply:
        dialcodes = {"count": count, "publisher": publisher, **extra}
        return await self.call("POST", "/dialcode/v3/generate", {"dialcodes": dialcodes})


async def make_world(kit: Kit) -> World:
    client = await kit.client(["dialcode"])
    tutor = await kit.user(client, "tutor")
    world = World(kit, client, tutor)
    await world.publisher()
    return world

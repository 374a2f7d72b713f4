"""Pub/sub (in process and over Redis), the Redis connection and its /health state."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from core.keys import PUBSUB, REDIS
from core.pubsub import LocalPubSub, PubSubUnavailable, RedisPubSub


@pytest.fixture(params=["memory", "redis"])
def transport(request) -> dict:
    if request.param == "memory":
        return {}
    return {"redis": {"url": request.getfixturevalue("redis_url"), "prefix": request.getfixturevalue("redis_prefix")}}


async def next_message(messages, within: float = 2.0):
    async with asyncio.timeout(within):
        return await anext(messages)


async def test_fan_out_to_every_subscriber_of_a_channel(kit_sqlite, transport):
    client = await kit_sqlite.client(**transport)
    hub = client.app[PUBSUB]
    assert isinstance(hub, RedisPubSub if transport else LocalPubSub)
    async with hub.subscribe("room:1") as first, hub.subscribe("room:1", "room:2") as second:
        await hub.publish("room:1", {"n": 1, "at": dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)})
        await hub.publish("room:2", {"n": 2})
        await hub.publish("room:3", {"n": 3})  # nobody listens
        assert await next_message(first) == ("room:1", {"n": 1, "at": "2026-01-02T00:00:00Z"})
        assert await next_message(second) == ("room:1", {"n": 1, "at": "2026-01-02T00:00:00Z"})
        assert await next_message(second) == ("room:2", {"n": 2})
        # Each subscriber gets its own copy.
        await hub.publish("room:1", {"items": [1]})
        a, b = await next_message(first), await next_message(second)
        a[1]["items"].append(2)
        assert b == ("room:1", {"items": [1]})
        assert first.pending == 0 and second.pending == 0


async def test_leaving_the_block_unsubscribes(kit_sqlite, transport):
    client = await kit_sqlite.client(**transport)
    hub = client.app[PUBSUB]
    async with hub.subscribe("room:9") as messages:
        assert hub.subscriber_count("room:9") == 1
        if transport:
            assert await _redis_subscribers(client.app, "room:9") == 1
    assert hub.subscriber_count("room:9") == 0
    assert messages.closed
    with pytest.raises(StopAsyncIteration):
        await next_message(messages)
    if transport:
        for _ in range(50):  # UNSUBSCRIBE is sent; wait for Redis to apply it
            if await _redis_subscribers(client.app, "room:9") == 0:
                break
            await asyncio.sleep(0.02)
        assert await _redis_subscribers(client.app, "room:9") == 0
    else:
        assert await hub.publish("room:9", {"x": 1}) == 0


async def _redis_subscribers(app, channel: str) -> int:
    hub = app[PUBSUB]
    [(_, count)] = await app[REDIS].pubsub_numsub(hub.prefix + channel)
    return count


async def test_two_apps_on_one_redis_see_each_others_messages(kit_sqlite, redis_url, redis_prefix):
    shared = {"redis": {"url": redis_url, "prefix": redis_prefix}}
    first, second = await kit_sqlite.client(**shared), await kit_sqlite.client(**shared)
    other = await kit_sqlite.client(redis={"url": redis_url, "prefix": redis_prefix + "other:"})
    async with second.app[PUBSUB].subscribe("thread:7") as messages, \
            other.app[PUBSUB].subscribe("thread:7") as elsewhere:
        # Both workers of the deployment are subscribed: the publisher's and the other one.
        async with first.app[PUBSUB].subscribe("thread:7") as own:
            assert await first.app[PUBSUB].publish("thread:7", {"text": "hi"}) == 2
            assert await next_message(messages) == ("thread:7", {"text": "hi"})
            assert await next_message(own) == ("thread:7", {"text": "hi"})
        # Another prefix is another deployment.
        with pytest.raises(TimeoutError):
            await next_message(elsewhere, within=0.2)


async def test_a_slow_subscriber_is_closed_after_what_it_already_has(kit_sqlite, transport):
    client = await kit_sqlite.client(**transport)
    hub = client.app[PUBSUB]
    async with hub.subscribe("busy", maxsize=3) as slow, hub.subscribe("busy") as fast:
        for n in range(5):
            await hub.publish("busy", {"n": n})
        received = [message["n"] async for _, message in slow]
        assert received == [0, 1, 2]  # a prefix, never a gap in the middle
        assert slow.overflowed and slow.closed
        assert [(await next_message(fast))[1]["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
        assert not fast.overflowed
        assert hub.subscriber_count("busy") == 1


async def test_shutdown_ends_open_subscriptions(kit_sqlite, transport):
    client = await kit_sqlite.client(**transport)
    hub = client.app[PUBSUB]
    got: list = []

    async def listen():
        async with hub.subscribe("news") as messages:
            async for item in messages:
                got.append(item)

    listener = asyncio.create_task(listen())
    for _ in range(100):
        if hub.subscriber_count("news"):
            break
        await asyncio.sleep(0.01)
    await hub.publish("news", {"v": 1})
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    await client.close()
    async with asyncio.timeout(2):
        await listener  # ended by shutdown, not cancelled
    assert got == [("news", {"v": 1})]


async def test_bad_messages_and_channels_are_refused(kit_sqlite):
    hub = (await kit_sqlite.client()).app[PUBSUB]
    with pytest.raises(TypeError):
        await hub.publish("c", ["not", "a", "dict"])
    with pytest.raises(TypeError):
        await hub.publish("c", {"when": object()})
    with pytest.raises(ValueError):
        async with hub.subscribe():
            pass


async def test_redis_down_publish_is_logged_and_subscribe_refused(kit_sqlite, down_redis_url, caplog):
    client = await kit_sqlite.client(redis={"url": down_redis_url})
    hub = client.app[PUBSUB]
    assert await hub.publish("c", {"x": 1}) == 0  # never fails the caller's request
    assert await hub.publish("c", {"x": 2}) == 0
    assert len([r for r in caplog.records if "message dropped" in r.getMessage()]) == 1  # not one per call
    with pytest.raises(PubSubUnavailable):
        async with hub.subscribe("c"):
            pass
    assert hub.subscriber_count("c") == 0


async def test_health_reports_redis_disabled_or_down(kit_sqlite, down_redis_url):
    resp = await (await kit_sqlite.client()).get("/health")
    body = await resp.json()
    assert resp.status == 200 and body["redis"] == "disabled" and body["status"] == "ok"

    client = await kit_sqlite.client(redis={"url": down_redis_url})  # starts anyway
    resp = await client.get("/health")
    body = await resp.json()
    assert resp.status == 200  # only the database makes it 503
    assert body["redis"] == "down" and body["status"] == "degraded"


async def test_health_reports_redis_ok(kit_sqlite, redis_url):
    resp = await (await kit_sqlite.client(redis={"url": redis_url})).get("/health")
    body = await resp.json()
    assert resp.status == 200 and body["redis"] == "ok" and body["status"] == "ok"

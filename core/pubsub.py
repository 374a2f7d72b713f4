"""The Redis connection (`app[REDIS]`) and publish/subscribe for realtime fan-out (`app[PUBSUB]`).

Pub/sub is at-most-once by design: a subscriber that is not listening when a message
is published never sees it. So the rule for callers is: persist first, publish after
the commit, and let clients resync from the database (`after=<last id>`) when they
reconnect. `publish` therefore never fails a request because Redis is away; it logs.

Each subscription has a bounded queue. A subscriber that falls `maxsize` messages
behind is *closed* rather than silently losing messages in the middle of its stream:
it still receives everything queued before the overflow, then its iteration ends
with `subscription.overflowed` set. A websocket built on it closes, the client
reconnects and resyncs, and no gap goes unnoticed.

Without `redis.url` everything stays in the process (one worker). With it, every
worker holds one Redis pub/sub connection, subscribes to a channel while at least
one local subscriber wants it, and fans messages out to its local subscribers.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from .aioutil import OutageLog, cancel_and_wait
from .config import mask_url_password
from .jsonutil import dumps, loads
from .keys import PUBSUB, REDIS, SETTINGS

log = logging.getLogger("mentorkit.pubsub")

# Client defaults, chosen so an unreachable Redis costs a request milliseconds, not
# seconds (redis-py's own default is 10 retries with a 5 s timeout). Query parameters
# in `redis.url` (`?socket_timeout=10`) override them.
CLIENT_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "health_check_interval": 30,
}
RETRIES = 1
POOL_SIZE = 64  # connections per worker
POOL_TIMEOUT = 2.0  # seconds a command waits for a free connection
DEFAULT_QUEUE_SIZE = 1000
CONFIRM_TIMEOUT = 5.0  # seconds to wait for Redis to acknowledge a SUBSCRIBE
READ_TIMEOUT = 5.0  # the reader wakes this often to run health checks


def redis_client(url: str) -> aioredis.Redis:
    """A redis.asyncio client with short timeouts and a single quick retry.

    The pool blocks (up to POOL_TIMEOUT) for a free connection instead of failing
    with "Too many connections": a burst of requests queues for Redis, it does not
    turn into rate-limit outages. `?max_connections=N` in the URL overrides the size.
    """
    retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), RETRIES)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, retry=retry, max_connections=POOL_SIZE, timeout=POOL_TIMEOUT, **CLIENT_OPTIONS
    )
    return aioredis.Redis.from_pool(pool)


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """`app[REDIS]`: a client when `redis.url` is set, else None.

    A Redis that is down at start-up does not stop the server: it is logged, `/health`
    reports it `down`, rate limiting follows `ratelimit.fail_open`, and the client
    reconnects by itself when Redis comes back. Refusing to start would turn a
    Redis blip during a deploy into a full outage.
    """
    settings = app[SETTINGS]
    url = settings.redis.url
    if not url:
        app[REDIS] = None
        yield
        return
    client = redis_client(url)
    app[REDIS] = client
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        log.warning("Redis at %s is unreachable at start-up (%s); starting anyway", mask_url_password(url), exc)
    try:
        yield
    finally:
        await client.aclose()


class PubSubUnavailable(RuntimeError):
    """Subscribing needs Redis and Redis cannot be reached."""


class Subscription:
    """An async iterator of `(channel, message)` for the channels subscribed to.

    Ends when the subscription is closed: on leaving `subscribe(...)`, at app
    shutdown, or after an overflow (`overflowed` is then True).
    """

    def __init__(self, channels: tuple[str, ...], maxsize: int) -> None:
        self.channels = channels
        self.maxsize = maxsize
        self.closed = False
        self.overflowed = False
        self._items: collections.deque[tuple[str, bytes]] = collections.deque()
        self._wakeup = asyncio.Event()

    def _push(self, channel: str, data: bytes) -> bool:
        """Queue one message without blocking the publisher; False if it was not queued."""
        if self.closed:
            return False
        if len(self._items) >= self.maxsize:
            self.overflowed = True
            self._close()
            log.warning("subscriber to %s fell %d messages behind and was closed", ",".join(self.channels), self.maxsize)
            return False
        self._items.append((channel, data))
        self._wakeup.set()
        return True

    def _close(self) -> None:
        self.closed = True
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._items)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> tuple[str, dict[str, Any]]:
        while True:
            while not self._items:
                if self.closed:
                    raise StopAsyncIteration
                self._wakeup.clear()
                await self._wakeup.wait()
            channel, data = self._items.popleft()
            try:
                return channel, loads(data)
            except ValueError:
                log.warning("dropping a malformed message on channel %s", channel)


class LocalPubSub:
    """In-process pub/sub: one worker, no Redis. Also the fan-out stage of `RedisPubSub`."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}

    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        """Deliver `message` to the channel's subscribers; returns how many got it."""
        return self._fan_out(channel, _encode(channel, message))

    def _fan_out(self, channel: str, data: bytes) -> int:
        return sum(1 for sub in list(self._subscribers.get(channel, ())) if sub._push(channel, data))

    def subscriber_count(self, channel: str) -> int:
        """Open local subscriptions to `channel` (an overflowed one no longer counts)."""
        return sum(1 for sub in self._subscribers.get(channel, ()) if not sub.closed)

    @asynccontextmanager
    async def subscribe(self, *channels: str, maxsize: int | None = None) -> AsyncIterator[Subscription]:
        """`async with pubsub.subscribe("a", "b") as messages: async for channel, msg in messages: ...`

        Subscribed when the block is entered (messages published after that arrive);
        unsubscribed when it is left.
        """
        wanted = _check_channels(channels)
        sub = Subscription(wanted, maxsize or self.queue_size)
        new = self._register(sub)
        try:
            await self._on_subscribe(new, wanted)
        except BaseException:
            await self._unregister(sub)
            raise
        try:
            yield sub
        finally:
            await self._unregister(sub)

    def _register(self, sub: Subscription) -> list[str]:
        """Add locally; returns the channels that had no local subscriber before."""
        new = []
        for channel in sub.channels:
            subs = self._subscribers.setdefault(channel, set())
            if not subs:
                new.append(channel)
            subs.add(sub)
        return new

    async def _unregister(self, sub: Subscription) -> None:
        sub._close()
        gone = []
        for channel in sub.channels:
            subs = self._subscribers.get(channel)
            if subs is None:
                continue
            subs.discard(sub)
            if not subs:
                del self._subscribers[channel]
                gone.append(channel)
        if gone:
            await self._on_unsubscribe(gone)

    async def _on_subscribe(self, new: list[str], channels: tuple[str, ...]) -> None:
        """Hook for transports: make sure `channels` (of which `new` had no local
        subscriber yet) are delivered from now on."""

    async def _on_unsubscribe(self, channels: list[str]) -> None:
        """Hook for transports: nobody here listens to `channels` any more."""

    def close_all(self) -> None:
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub._close()

    async def start(self) -> None:
        """Nothing to start in process."""

    async def stop(self) -> None:
        self.close_all()


class RedisPubSub(LocalPubSub):
    """Redis transport: one pub/sub connection per worker, fanned out locally."""

    def __init__(self, client: aioredis.Redis, prefix: str, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        super().__init__(queue_size)
        self.client = client
        self.prefix = prefix
        self._pubsub = client.pubsub()
        self._connected = asyncio.Event()
        self._confirmations: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._outage = OutageLog(log, "Redis (pub/sub)")
        # SUBSCRIBE / UNSUBSCRIBE go out in the order the local registry changed, so a
        # subscriber joining just as the last one leaves is never unsubscribed by it.
        self._commands = asyncio.Lock()
        self._stopping = False

    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        """Publish to every worker; returns the number of Redis subscribers (worker
        connections) that received it, 0 when Redis is unreachable (logged, not raised)."""
        data = _encode(channel, message)
        try:
            received = await self.client.publish(self.prefix + channel, data)
        except (RedisError, OSError) as exc:
            self._outage.failed(exc, "message dropped")
            return 0
        self._outage.recovered()
        return int(received)

    async def _on_subscribe(self, new: list[str], channels: tuple[str, ...]) -> None:
        """SUBSCRIBE the new channels and return once Redis has confirmed every channel
        (including ones another local subscriber asked for a moment ago), so a message
        published after `subscribe()` returns is never missed."""
        loop = asyncio.get_running_loop()
        futures = []
        for channel in channels:
            queue = self._confirmations.setdefault(channel, collections.deque())
            if channel in new:
                fut: asyncio.Future[None] = loop.create_future()
                queue.append(fut)
                futures.append(fut)
            elif queue:
                futures.append(queue[-1])  # a SUBSCRIBE for it is still in flight
            else:
                del self._confirmations[channel]
        if new:
            try:
                async with self._commands:
                    await self._pubsub.subscribe(*(self.prefix + c for c in new))
            except (RedisError, OSError) as exc:
                for channel in new:
                    for fut in list(self._confirmations.get(channel, ())):
                        if fut in futures:
                            self._forget(channel, fut)
                raise PubSubUnavailable(f"cannot subscribe, Redis is unreachable: {exc}") from exc
            self._connected.set()
        if not futures:
            return
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await asyncio.gather(*(asyncio.shield(f) for f in futures))
        except TimeoutError:
            raise PubSubUnavailable("Redis did not confirm the subscription in time") from None

    def _forget(self, channel: str, fut: asyncio.Future[None]) -> None:
        queue = self._confirmations.get(channel)
        if queue and fut in queue:
            queue.remove(fut)
        fut.cancel()

    async def _on_unsubscribe(self, channels: list[str]) -> None:
        try:
            async with self._commands:
                await self._pubsub.unsubscribe(*(self.prefix + c for c in channels))
        except (RedisError, OSError) as exc:
            # Harmless: messages for a channel nobody listens to are dropped on arrival.
            self._outage.failed(exc, "unsubscribe deferred")

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_loop(), name="mentorkit-pubsub-reader")

    async def stop(self) -> None:
        self.close_all()
        self._stopping = True
        if self._reader is not None:
            await cancel_and_wait([self._reader], 5.0)
        for queue in self._confirmations.values():
            for fut in queue:
                fut.cancel()
        self._confirmations.clear()
        try:
            await self._pubsub.aclose()
        except (RedisError, OSError):
            pass

    async def _read_loop(self) -> None:
        backoff = 0.2
        while not self._stopping:
            await self._connected.wait()
            try:
                message = await self._pubsub.get_message(timeout=READ_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._outage.failed(exc, f"reconnecting in {backoff:.1f}s")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:
                log.exception("pub/sub reader failed; continuing")
                await asyncio.sleep(backoff)
                continue
            backoff = 0.2
            self._outage.recovered()
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        raw_channel = message.get("channel")
        if raw_channel is None:
            return
        full = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        if not full.startswith(self.prefix):
            return
        channel = full[len(self.prefix):]
        if kind == "message":
            data = message["data"]
            self._fan_out(channel, data if isinstance(data, bytes) else str(data).encode())
        elif kind == "subscribe":
            queue = self._confirmations.get(channel)
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)
                    break
            if queue is not None and not queue:
                self._confirmations.pop(channel, None)


def _check_channels(channels: tuple[str, ...]) -> tuple[str, ...]:
    if not channels:
        raise ValueError("subscribe() needs at least one channel")
    for channel in channels:
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"channel names are non-empty strings, got {channel!r}")
    return tuple(dict.fromkeys(channels))


def _encode(channel: str, message: dict[str, Any]) -> bytes:
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"channel names are non-empty strings, got {channel!r}")
    if not isinstance(message, dict):
        raise TypeError(f"a pub/sub message is a dict, got {type(message).__name__}")
    return dumps(message)


async def pubsub_ctx(app: web.Application) -> AsyncIterator[None]:
    """`app[PUBSUB]`: Redis pub/sub when Redis is configured, else in-process."""
    client = app.get(REDIS)
    hub: LocalPubSub = LocalPubSub() if client is None else RedisPubSub(client, app[SETTINGS].redis.prefix)
    app[PUBSUB] = hub
    await hub.start()
    try:
        yield
    finally:
        await hub.stop()

"""Rate limiting with `limits` (`limits.aio`): named buckets, memory or Redis storage.

Strategy: the *moving window*. A bucket such as `hard = ["1/second", "30/minute"]`
promises "at most 30 requests in the past minute", and the 429 messages say exactly
that ("Too many requests in the past minute."); a fixed window would let a client
send 60 requests in two seconds around a minute boundary. The cost is one timestamp
per allowed request per key (a Redis list trimmed to the limit, updated atomically by
a Lua script), which is small for API-sized limits.

Limits of a bucket are checked from the shortest window to the longest, stopping at
the first one exceeded, so a request refused by `1/second` does not use up the
`30/minute` allowance (one refused by `30/minute` still counts in `1/second`, as
with DRF's throttles).

Key: the API token, else the signed-in user, else the client address. The address
is `request.remote`; `ratelimit.proxy_hops = N` (N reverse proxies in front that each
append to `X-Forwarded-For`) takes the N-th address from the right instead, the
one the outermost trusted proxy saw. Anything left of it is client-supplied.

Storage trouble (Redis down): `ratelimit.fail_open = true` (the default) lets the
request through; false answers 503 `rate_limit_unavailable` with `Retry-After`.
Either way the outage is logged once a minute, not once per request; a check that
takes longer than `STORAGE_TIMEOUT` counts as a failure, and after a failure Redis is
not asked again for `BREAKER_SECONDS`, so a dead Redis does not add a timeout to
every request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from .aioutil import OutageLog
from .errors import ApiError, ConfigError, TooManyRequests
from .keys import EXTRA_HEADERS, IDENTITY, RATE_BUCKETS, RATE_LIMITER, REDIS, SETTINGS

log = logging.getLogger("mentorkit.ratelimit")

BREAKER_SECONDS = 2.0
STORAGE_TIMEOUT = 1.0  # a hung Redis costs a request at most this long
UNAVAILABLE_RETRY_AFTER = 5
STORAGE_ERRORS = (RedisError, OSError, StorageError, asyncio.TimeoutError)


class RateLimitUnavailable(ApiError):
    status = 503
    default_code = "rate_limit_unavailable"
    default_message = "Rate limiting is temporarily unavailable; try again shortly."


@dataclass(frozen=True)
class LimitState:
    """One limit of a bucket after a hit: what the RateLimit-* headers describe."""

    item: RateLimitItem
    remaining: int
    reset_after: int  # whole seconds until a slot frees up, at least 1

    @property
    def window(self) -> int:
        return int(self.item.get_expiry())


def parse_buckets(buckets: dict[str, list[str]]) -> dict[str, list[RateLimitItem]]:
    """Parse every bucket's limit strings; every bad one is reported at once."""
    parsed: dict[str, list[RateLimitItem]] = {}
    problems = []
    for name, specs in buckets.items():
        items: list[RateLimitItem] = []
        for spec in specs:
            try:
                items.extend(parse_many(spec))
            except ValueError:
                problems.append(f"rate-limit bucket {name!r}: {spec!r} is not a limit like '30/minute'")
        parsed[name] = sorted(items, key=lambda item: (item.get_expiry(), item.amount))
    if problems:
        raise ConfigError(problems)
    return parsed


def exceeded_message(item: RateLimitItem) -> str:
    """`Too many requests in the past minute.` (`past 5 minutes` for `10 per 5 minutes`)."""
    unit = item.GRANULARITY.name
    span = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
    return f"Too many requests in the past {span}."


def forwarded_address(request: web.Request, proxy_hops: int) -> str:
    """The caller's address: behind `proxy_hops` trusted proxies, the one the outermost saw."""
    if proxy_hops:
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        if len(hops) >= proxy_hops:
            return hops[-proxy_hops]
    return request.remote or "unknown"


def client_address(request: web.Request) -> str:
    """The caller's address as every part of Mentorkit sees it (rate limits, sessions, logs)."""
    return forwarded_address(request, request.app[SETTINGS].ratelimit.proxy_hops)


class RateLimiter:
    """`app[RATE_LIMITER]`: `check(request, bucket)` for routes, `hit_key(bucket, key)` for
    callers that pick their own key (login: per account and per address)."""

    def __init__(
        self,
        buckets: dict[str, list[str]],
        storage: Storage,
        *,
        enabled: bool = True,
        fail_open: bool = True,
        proxy_hops: int = 0,
    ) -> None:
        self.buckets = parse_buckets(buckets)
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.enabled = enabled
        self.fail_open = fail_open
        self.proxy_hops = proxy_hops
        self._outage = OutageLog(log, "rate-limit storage (Redis)")
        self._skip_until = 0.0

    def client_key(self, request: web.Request) -> str:
        identity = request.get(IDENTITY)
        if identity is not None:
            if identity.api_token_id:
                return f"token:{identity.api_token_id}"
            return f"user:{identity.user_id}"
        return f"ip:{self.client_address(request)}"

    def client_address(self, request: web.Request) -> str:
        return forwarded_address(request, self.proxy_hops)

    async def check(self, request: web.Request, bucket: str) -> None:
        """Count this request against `bucket` for its caller; raise 429 when over.

        On success the RateLimit-* headers of the most constrained limit are added
        to the response."""
        headers = await self.hit_key(bucket, self.client_key(request))
        if headers:
            extra = request.get(EXTRA_HEADERS)
            if extra is None:
                request[EXTRA_HEADERS] = extra = {}
            extra.update(headers)

    async def hit_key(self, bucket: str, key: str) -> dict[str, str]:
        """Count one hit for `key` in `bucket`. Raises `TooManyRequests` (with
        `Retry-After` and RateLimit-* headers) when a limit is exceeded; returns the
        RateLimit-* headers otherwise (empty when disabled or storage is down and
        failing open)."""
        if not self.enabled:
            return {}
        try:
            items = self.buckets[bucket]
        except KeyError:
            raise KeyError(f"unknown rate-limit bucket {bucket!r}; known: {', '.join(sorted(self.buckets))}") from None
        if not items:
            return {}
        if time.monotonic() < self._skip_until:
            return self._storage_down(None)
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT):
                exceeded = None
                for item in items:
                    if not await self.strategy.hit(item, bucket, key):
                        exceeded = item
                        break
                states = await asyncio.gather(*(self._state(item, bucket, key) for item in items))
        except STORAGE_ERRORS as exc:
            self._skip_until = time.monotonic() + BREAKER_SECONDS
            return self._storage_down(exc)
        self._outage.recovered()
        if exceeded is not None:
            state = next(s for s in states if s.item is exceeded)
            headers = _headers(state, items)
            headers["Retry-After"] = str(state.reset_after)
            raise TooManyRequests(exceeded_message(exceeded), code="throttled", headers=headers)
        return _headers(min(states, key=lambda s: (s.remaining, -s.reset_after)), items)

    async def _state(self, item: RateLimitItem, bucket: str, key: str) -> LimitState:
        stats = await self.strategy.get_window_stats(item, bucket, key)
        # Millisecond rounding first: Redis' Lua hands timestamps back with 14 significant
        # digits, which would turn "1 s from now" into 1.00005 s and so into 2.
        reset_after = max(1, math.ceil(round(stats.reset_time - time.time(), 3)))
        return LimitState(item, max(0, stats.remaining), reset_after)

    def _storage_down(self, exc: BaseException | None) -> dict[str, str]:
        if exc is not None:
            self._outage.failed(exc, "allowing requests" if self.fail_open else "answering 503")
        if self.fail_open:
            return {}
        raise RateLimitUnavailable(headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)})

    async def close(self) -> None:
        """Stop MemoryStorage's expiry timer so shutdown leaves no pending task."""
        timer = getattr(self.storage, "timer", None)
        if isinstance(timer, asyncio.Task) and not timer.done():
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)


def _headers(state: LimitState, items: list[RateLimitItem]) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(state.item.amount),
        "RateLimit-Remaining": str(state.remaining),
        "RateLimit-Reset": str(state.reset_after),
        "RateLimit-Policy": ", ".join(f"{item.amount};w={int(item.get_expiry())}" for item in items),
    }


def make_storage(app: web.Application) -> Storage:
    """Redis storage sharing `app[REDIS]`'s connection pool when Redis is configured."""
    settings = app[SETTINGS]
    client = app.get(REDIS)
    if client is None:
        return MemoryStorage()
    prefix = settings.redis.prefix.rstrip(":") + ":ratelimit"
    return RedisStorage(
        "async+" + settings.redis.url,
        implementation="redispy",
        key_prefix=prefix,
        connection_pool=client.connection_pool,
    )


async def ratelimit_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].ratelimit
    limiter = RateLimiter(
        app[RATE_BUCKETS],
        make_storage(app),
        enabled=settings.enabled,
        fail_open=settings.fail_open,
        proxy_hops=settings.proxy_hops,
    )
    app[RATE_LIMITER] = limiter
    try:
        yield
    finally:
        await limiter.close()

"""Rate limiting: moving windows, headers, keys, Redis sharing and Redis outages."""

from __future__ import annotations

import logging

import pytest
from fakeplugins import installed

from core.app import create_app
from core.errors import ConfigError, TooManyRequests
from core.keys import RATE_LIMITER
from core.testing import settings_for_tests

THROTTLED = installed(throttled="fakeplugins:Throttled")
SECOND = "Too many requests in the past second."
MINUTE = "Too many requests in the past minute."


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> dict:
    """Config overrides for each limiter storage (Redis only when a test server is given)."""
    if request.param == "memory":
        return {}
    url = request.getfixturevalue("redis_url")
    return {"redis": {"url": url, "prefix": request.getfixturevalue("redis_prefix")}}


async def throttled_client(kit, **overrides):
    return await kit.client(["throttled"], installed=THROTTLED, **overrides)


async def test_hard_bucket_says_second_then_minute(kit, storage, wall_clock):
    client = await throttled_client(kit, **storage)
    user = await kit.user(client, "student")

    def get():
        return client.get("/maestro/hard", headers=user.headers)

    resp = await get()
    assert resp.status == 200
    resp = await get()  # same instant: the 1/second limit
    assert resp.status == 429
    assert await resp.json() == {"error": SECOND}
    assert resp.headers["Retry-After"] == "1"
    assert (resp.headers["RateLimit-Limit"], resp.headers["RateLimit-Remaining"]) == ("1", "0")
    assert resp.headers["RateLimit-Reset"] == "1"

    for _ in range(29):  # one a second: 30 accepted within the minute
        wall_clock.advance(1.01)
        resp = await get()
        assert resp.status == 200, await resp.text()
    wall_clock.advance(1.01)
    resp = await get()
    assert resp.status == 429
    assert await resp.json() == {"error": MINUTE}
    # The oldest of the 30 hits leaves the window 60 s after it was made (30.3 s ago).
    assert resp.headers["Retry-After"] == "30"
    assert (resp.headers["RateLimit-Limit"], resp.headers["RateLimit-Remaining"]) == ("30", "0")
    assert resp.headers["RateLimit-Reset"] == "30"

    wall_clock.advance(30)
    assert (await get()).status == 200  # the window moved on


async def test_success_headers_describe_the_most_constrained_limit(kit, storage, wall_clock):
    client = await throttled_client(kit, **storage)
    user = await kit.user(client, "student")
    resp = await client.get("/maestro/hard", headers=user.headers)
    assert resp.status == 200
    # 1/second has 0 left, 30/minute has 29: the second limit is the constraint.
    assert resp.headers["RateLimit-Limit"] == "1"
    assert resp.headers["RateLimit-Remaining"] == "0"
    assert resp.headers["RateLimit-Reset"] == "1"
    assert resp.headers["RateLimit-Policy"] == "1;w=1, 30;w=60"
    assert "Retry-After" not in resp.headers

    wall_clock.advance(5)
    resp = await client.get("/maestro/hard", headers=user.headers)
    assert resp.status == 200
    assert resp.headers["RateLimit-Remaining"] == "0" and resp.headers["RateLimit-Limit"] == "1"

    # hit_key returns the headers of its own bucket for the caller to send.
    resp = await client.post("/attempt/someone")
    assert resp.status == 200
    assert resp.headers["RateLimit-Limit"] == "2" and resp.headers["RateLimit-Remaining"] == "1"
    assert resp.headers["RateLimit-Reset"] == "60"


async def test_each_user_each_api_token_and_each_address_has_its_own_allowance(kit, storage, wall_clock):
    client = await throttled_client(kit, **storage)
    alice, bob = await kit.user(client, "student"), await kit.user(client, "student")
    admin = await kit.user(client, "admin")
    token_a = await kit.api_token(client, admin, "a")
    token_b = await kit.api_token(client, admin, "b")

    assert (await client.get("/maestro/hard", headers=alice.headers)).status == 200
    assert (await client.get("/maestro/hard", headers=alice.headers)).status == 429
    assert (await client.get("/maestro/hard", headers=bob.headers)).status == 200
    assert (await client.get("/maestro/hard")).status == 200  # anonymous: the client address
    assert (await client.get("/maestro/hard")).status == 429

    # Two tokens of the same admin are two clients, and neither is the admin's JWT.
    assert (await client.get("/tokens/hard", headers={"apiToken": token_a})).status == 200
    resp = await client.get("/tokens/hard", headers={"apiToken": token_a})
    assert resp.status == 429 and await resp.json() == {"error": SECOND}
    assert (await client.get("/tokens/hard", headers={"apiToken": token_b})).status == 200
    assert (await client.get("/tokens/hard", headers=admin.headers)).status == 200


@pytest.mark.parametrize("style", ["tutorhub", "drf", "maestro", "sunbird"])
async def test_429_comes_in_the_route_envelope_style(kit, style):
    client = await throttled_client(kit)
    assert (await client.get(f"/{style}/hard")).status == 200
    resp = await client.get(f"/{style}/hard")
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(resp.headers)
    body = await resp.json()
    if style == "tutorhub":
        assert body["result"] == "ERR" and body["status"] == 429 and body["message"] == "errMsg_Throttled"
        assert body["detail"] == SECOND
    elif style == "drf":
        assert body == {"detail": SECOND, "code": "throttled"}
    elif style == "maestro":
        assert body == {"error": SECOND}
    else:
        assert body["responseCode"] == "TOO_MANY_REQUESTS"
        assert body["params"]["status"] == "failed"
        assert body["params"]["err"] == "throttled" and body["params"]["errmsg"] == SECOND


async def test_explicit_keys_for_login_style_limits(kit, storage, wall_clock):
    client = await throttled_client(kit, **storage)
    for _ in range(2):
        assert (await client.post("/attempt/alice")).status == 200
    resp = await client.post("/attempt/alice")
    assert resp.status == 429
    body = await resp.json()
    assert body["detail"] == MINUTE and body["message"] == "errMsg_Throttled"
    assert resp.headers["Retry-After"] == "60"
    assert (await client.post("/attempt/bob")).status == 200  # another account

    limiter = client.app[RATE_LIMITER]
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit_key("pair", "account:alice")
    assert caught.value.code == "throttled" and caught.value.headers["Retry-After"] == "60"
    with pytest.raises(KeyError, match="unknown rate-limit bucket 'nope'"):
        await limiter.hit_key("nope", "x")


async def test_two_apps_on_one_redis_share_the_counts(kit, redis_url, redis_prefix, wall_clock):
    shared = {"redis": {"url": redis_url, "prefix": redis_prefix}}
    first = await throttled_client(kit, **shared)
    second = await throttled_client(kit, **shared)
    user = await kit.user(first, "student")
    assert (await first.get("/maestro/hard", headers=user.headers)).status == 200
    resp = await second.get("/maestro/hard", headers=user.headers)
    assert resp.status == 429 and await resp.json() == {"error": SECOND}

    # A different prefix is a different deployment: nothing shared.
    other = await throttled_client(kit, redis={"url": redis_url, "prefix": redis_prefix + "other:"})
    assert (await other.get("/maestro/hard", headers=user.headers)).status == 200


async def test_redis_down_fails_open_and_logs_once(kit, down_redis_url, caplog):
    client = await throttled_client(kit, redis={"url": down_redis_url})
    caplog.set_level(logging.WARNING, logger="mentorkit.ratelimit")
    for _ in range(5):  # would be throttled after one if the limiter worked
        resp = await client.get("/maestro/hard")
        assert resp.status == 200
        assert "RateLimit-Limit" not in resp.headers
    warnings = [r for r in caplog.records if r.name == "mentorkit.ratelimit"]
    assert len(warnings) == 1 and "allowing requests" in warnings[0].getMessage()


async def test_redis_down_fails_closed_when_configured(kit, down_redis_url):
    client = await throttled_client(kit, redis={"url": down_redis_url}, ratelimit={"fail_open": False})
    resp = await client.get("/drf/hard")
    assert resp.status == 503
    assert await resp.json() == {
        "detail": "Rate limiting is temporarily unavailable; try again shortly.",
        "code": "rate_limit_unavailable",
    }
    assert resp.headers["Retry-After"] == "5"
    # Routes without a bucket are not affected.
    assert (await client.get("/health")).status == 200


async def test_disabled_limiter_lets_everything_through(kit):
    client = await throttled_client(kit, ratelimit={"enabled": False})
    for _ in range(3):
        resp = await client.get("/maestro/hard")
        assert resp.status == 200 and "RateLimit-Limit" not in resp.headers


async def test_forwarded_for_is_trusted_only_with_proxy_hops(kit):
    client = await throttled_client(kit)
    assert (await client.get("/maestro/hard", headers={"X-Forwarded-For": "10.0.0.1"})).status == 200
    # Spoofing the header does not buy a fresh allowance: the peer address is the key.
    assert (await client.get("/maestro/hard", headers={"X-Forwarded-For": "10.0.0.2"})).status == 429

    behind_proxy = await throttled_client(kit, ratelimit={"proxy_hops": 1})
    # One proxy appends the address it saw; whatever the client wrote before it is ignored.
    assert (await behind_proxy.get("/maestro/hard", headers={"X-Forwarded-For": "6.6.6.6, 10.0.0.1"})).status == 200
    assert (await behind_proxy.get("/maestro/hard", headers={"X-Forwarded-For": "7.7.7.7, 10.0.0.1"})).status == 429
    assert (await behind_proxy.get("/maestro/hard", headers={"X-Forwarded-For": "10.0.0.2"})).status == 200


async def test_a_malformed_limit_stops_start_up(kit_sqlite):
    app = create_app(settings_for_tests(kit_sqlite.database_url, ratelimit={"default": "lots/minute"}))
    with pytest.raises(ConfigError, match="'lots/minute' is not a limit"):
        await kit_sqlite.aiohttp_client(app)

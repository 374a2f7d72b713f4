"""The export's request side: body validation (order and messages), API-token auth, the hard rate limit."""

from __future__ import annotations

import datetime as dt

import pytest
from coaching_world import EXPORT, make_world
from sqlalchemy import update

from core.auth.models import ApiToken
from core.auth.tokens import hash_api_token
from core.keys import DB

VALID = {"startDate": "2026-01-01", "endDate": "2026-01-31", "timeAxis": "meetingDate"}


async def _error(world, body=None, *, data=None, headers=None):
    headers = headers or world.api
    if data is not None:
        resp = await world.client.post(EXPORT, data=data, headers={**headers, "Content-Type": "application/json"})
    else:
        resp = await world.client.post(EXPORT, json=body, headers=headers)
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.status, await resp.json()


@pytest.fixture
async def world(kit):
    # Validation is the subject here, not the 1/second limit.
    return await make_world(kit, coaching={}, ratelimit={"enabled": False})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "Request body must be a JSON object."),
        ([VALID], "Request body must be a JSON object."),
        ("2026-01-01", "Request body must be a JSON object."),
        ({}, "Missing required fields: startDate, endDate, timeAxis."),
        ({"endDate": "2026-01-02", "timeAxis": "createdAt"}, "Missing required field: startDate."),
        ({**VALID, "endDate": None}, "Missing required field: endDate."),
        ({k: v for k, v in VALID.items() if k != "timeAxis"}, "Missing required field: timeAxis."),
        ({**VALID, "startDate": "2026-02-30"}, "startDate must be a real date formatted YYYY-MM-DD."),
        ({**VALID, "startDate": "2026-1-05"}, "startDate must be a real date formatted YYYY-MM-DD."),
        ({**VALID, "startDate": "2026-01-05T00:00:00"}, "startDate must be a real date formatted YYYY-MM-DD."),
        ({**VALID, "startDate": 20260105}, "startDate must be a real date formatted YYYY-MM-DD."),
        ({**VALID, "endDate": "2026-13-01"}, "endDate must be a real date formatted YYYY-MM-DD."),
        ({**VALID, "endDate": "31/01/2026"}, "endDate must be a real date formatted YYYY-MM-DD."),
        ({**VALID, "endDate": "2025-12-31"}, "endDate must not be before startDate."),
        ({**VALID, "endDate": "2026-04-02"}, "endDate must be within 90 days of startDate."),
        ({**VALID, "timeAxis": "updatedAt"}, 'timeAxis must be "meetingDate" or "createdAt".'),
        ({**VALID, "timeAxis": 1}, 'timeAxis must be "meetingDate" or "createdAt".'),
    ],
)
async def test_validation_messages(world, body, message):
    status, payload = await _error(world, body)
    assert (status, payload) == (400, {"error": message})


async def test_malformed_json_is_not_an_object(world):
    assert await _error(world, data=b"{not json") == (400, {"error": "Request body must be a JSON object."})
    assert await _error(world, data=b"") == (400, {"error": "Request body must be a JSON object."})


async def test_checks_run_in_the_contracts_order(world):
    # Each body breaks two rules; the earlier one in the contract's order is reported.
    cases = [
        ({"startDate": "2026-02-30", "timeAxis": "x"}, "Missing required field: endDate."),
        ({"startDate": "2026-02-30", "endDate": "2025-01-01", "timeAxis": "x"},
         "startDate must be a real date formatted YYYY-MM-DD."),
        ({"startDate": "2026-01-01", "endDate": "2025-01-01", "timeAxis": "x"}, "endDate must not be before startDate."),
        ({"startDate": "2026-01-01", "endDate": "2027-01-01", "timeAxis": "x"},
         "endDate must be within 90 days of startDate."),
    ]
    for body, message in cases:
        assert await _error(world, body) == (400, {"error": message}), body


async def test_day_90_is_accepted_and_day_91_rejected(world):
    start = dt.date(2026, 1, 1)
    ok = {**VALID, "endDate": (start + dt.timedelta(days=90)).isoformat()}
    resp = await world.client.post(EXPORT, json=ok, headers=world.api)
    assert resp.status == 200 and await resp.json() == []
    too_far = {**VALID, "endDate": (start + dt.timedelta(days=91)).isoformat()}
    assert await _error(world, too_far) == (400, {"error": "endDate must be within 90 days of startDate."})
    same_day = {**VALID, "endDate": "2026-01-01"}
    assert (await world.client.post(EXPORT, json=same_day, headers=world.api)).status == 200


async def test_max_days_is_configurable(kit):
    world = await make_world(kit, coaching={"max_days": 7}, ratelimit={"enabled": False})
    assert (await world.client.post(EXPORT, json={**VALID, "endDate": "2026-01-08"}, headers=world.api)).status == 200
    assert await _error(world, {**VALID, "endDate": "2026-01-09"}) == (
        400, {"error": "endDate must be within 7 days of startDate."}
    )


async def test_api_token_is_required(world):
    assert await _error(world, VALID, headers={"X-Other": "1"}) == (
        401, {"error": "API token required in the apiToken header."}
    )
    invalid = {"error": "Invalid, expired or revoked API token."}
    assert await _error(world, VALID, headers={"apiToken": "mk_not-a-real-token"}) == (401, invalid)
    # Header names are case-insensitive.
    resp = await world.client.post(EXPORT, json=VALID, headers={"APITOKEN": world.token})
    assert resp.status == 200

    # A JWT is not an API token, even an admin's.
    status, payload = await _error(world, VALID, headers=world.admin.headers)
    assert (status, payload) == (401, {"error": "This route accepts only an API token in the apiToken header."})

    # Revoked and expired tokens stop working at once.
    revoked = await world.kit.api_token(world.client, world.admin, name="revoked")
    expired = await world.kit.api_token(world.client, world.admin, name="expired")
    async with world.client.app[DB].transaction() as db:
        now = dt.datetime.now(dt.timezone.utc)
        await db.execute(update(ApiToken).where(ApiToken.token_hash == hash_api_token(revoked)).values(revoked_at=now))
        await db.execute(update(ApiToken).where(ApiToken.token_hash == hash_api_token(expired))
                         .values(expires_at=now - dt.timedelta(seconds=1)))
    assert await _error(world, VALID, headers={"apiToken": revoked}) == (401, invalid)
    assert await _error(world, VALID, headers={"apiToken": expired}) == (401, invalid)


async def test_auth_is_checked_before_the_body(world):
    assert await _error(world, [1], headers={"apiToken": "mk_wrong"}) == (
        401, {"error": "Invalid, expired or revoked API token."}
    )


async def _limited_world(kit, redis_url=None):
    overrides = {"ratelimit": {"enabled": True}}
    if redis_url:
        import uuid

        overrides["redis"] = {"url": redis_url, "prefix": f"mk-coaching-test-{uuid.uuid4().hex[:8]}:"}
    return await make_world(kit, **overrides)


async def _hit(world, token):
    resp = await world.client.post(EXPORT, json=VALID, headers={"apiToken": token})
    return resp.status, await resp.json(), resp.headers


async def _assert_hard_bucket(world, limiter_clock):
    status, body, _ = await _hit(world, world.token)
    assert (status, body) == (200, [])
    status, body, headers = await _hit(world, world.token)
    assert (status, body) == (429, {"error": "Too many requests in the past second."})
    assert headers["Retry-After"] == "1"

    # Another token has its own allowance.
    other = await world.kit.api_token(world.client, world.admin, name="other")
    assert (await _hit(world, other))[0] == 200

    # 30 allowed requests in 45 seconds (one every 1.5 s), then the minute is full.
    for _ in range(29):
        limiter_clock.advance(1.5)
        status, body, _ = await _hit(world, world.token)
        assert status == 200, body
    limiter_clock.advance(1.5)
    status, body, headers = await _hit(world, world.token)
    assert (status, body) == (429, {"error": "Too many requests in the past minute."})
    # The first request leaves the window 60 s after it was made: 60 - 45 = 15 s from now.
    assert headers["Retry-After"] == "15"
    limiter_clock.advance(15.001)  # just after Retry-After
    assert (await _hit(world, world.token))[0] == 200


async def test_hard_rate_limit_per_token(kit, limiter_clock):
    await _assert_hard_bucket(await _limited_world(kit), limiter_clock)


async def test_hard_rate_limit_per_token_on_redis(kit, limiter_clock, redis_url):
    await _assert_hard_bucket(await _limited_world(kit, redis_url), limiter_clock)


async def test_invalid_requests_count_against_the_limit(kit, limiter_clock):
    world = await _limited_world(kit)
    assert (await _error(world, {}))[0] == 400
    assert await _error(world, VALID) == (429, {"error": "Too many requests in the past second."})

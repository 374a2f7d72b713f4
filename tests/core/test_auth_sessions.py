"""Login, logout, relogin, currentuser, publickey and permissions (core.md Identity; tutorhub-auth §4.3, §4.5)."""

from __future__ import annotations

import asyncio
import datetime as dt

import jwt
import pytest
from auth_support import (
    assert_error,
    assert_no_secrets,
    bearer,
    client_with_events,
    login,
    token_works,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update

from core.auth import services
from core.auth.identity import TOKEN_NAME
from core.auth.models import AuthSession
from core.errors import TooManyRequests
from core.keys import AUTH, DB, RATE_LIMITER

SESSION_FIELDS = {
    "sessionId", "userId", "email", "fullname", "roleId", "avatar", "emailVerified", "tutorApplicationStatus",
    "accountStatus", "isActive", "sessionNeedsEmail2FA", "sessionNeedsMobile2FA", "accessToken", "expiresIn",
}


async def test_login_returns_the_session_object_cookie_and_header(kit):
    client = await kit.client()
    alice = await kit.user(client, "tutor", fullname="Alice Tutor")

    resp = await client.post("/login", json={"username": alice.email.upper(), "password": alice.password})
    text = await resp.text()
    assert resp.status == 200, text
    assert_no_secrets(text)
    session = await resp.json()
    assert set(session) == SESSION_FIELDS
    assert session["userId"] == alice.id and session["email"] == alice.email
    assert session["fullname"] == "Alice Tutor" and session["roleId"] == "tutor"
    assert session["accountStatus"] == "active" and session["isActive"] is True
    assert 86000 < session["expiresIn"] <= 86400
    token = session["accessToken"]
    assert resp.headers[TOKEN_NAME] == token
    cookie = resp.cookies[TOKEN_NAME]
    assert cookie.value == token and cookie["httponly"] and cookie["path"] == "/"
    assert jwt.decode(token, options={"verify_signature": False})["sid"] == session["sessionId"]

    # The cookie alone authenticates the next request.
    me = await client.get("/currentuser")
    assert me.status == 200 and (await me.json())["sessionId"] == session["sessionId"]
    client.session.cookie_jar.clear()

    # `email` is accepted instead of `username`; `username` wins when both are sent.
    resp = await client.post("/login", json={"email": alice.email, "password": alice.password})
    client.session.cookie_jar.clear()
    assert resp.status == 200 and (await resp.json())["userId"] == alice.id
    resp = await login(client, alice.email, alice.password, email="nobody@example.com")
    assert resp.status == 200 and (await resp.json())["userId"] == alice.id
    client.session.cookie_jar.clear()


async def test_login_rejections(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    bob = await kit.user(client, "student")

    await assert_error(await client.post("/login", json={"username": bob.email}), 400, "errMsg_CredentialsMissing")
    await assert_error(await client.post("/login", json={"password": "x" * 10}), 400, "errMsg_CredentialsMissing")
    await assert_error(await client.post("/login", data=b"not json"), 400, "errMsg_InvalidJson")
    await assert_error(await client.post("/login", json={"username": 5, "password": "x"}), 400, "errMsg_Invalid")
    await assert_error(await login(client, bob.email, "wrong-password"), 401, "errMsg_InvalidCredentials")
    await assert_error(await login(client, "ghost@example.com", bob.password), 401, "errMsg_InvalidCredentials")

    for status, key in (("suspended", "errMsg_AccountSuspended"), ("banned", "errMsg_AccountBanned")):
        resp = await client.patch(f"/v1/users/{bob.id}", json={"accountStatus": status}, headers=admin.headers)
        assert resp.status == 200, await resp.text()
        await assert_error(await login(client, bob.email, bob.password), 403, key)
    # A wrong password on a banned account is still just "wrong credentials".
    await assert_error(await login(client, bob.email, "wrong-password"), 401, "errMsg_InvalidCredentials")

    carol = await kit.user(client, "student")
    assert (await client.delete(f"/v1/archiveprofile/{carol.id}", headers=carol.headers)).status == 200
    await assert_error(await login(client, carol.email, carol.password), 401, "errMsg_UserIsNotActive")


async def test_logout_revokes_the_session_and_is_idempotent(kit):
    client = await kit.client()
    user = await kit.user(client, "student")
    token = (await (await login(client, user.email, user.password)).json())["accessToken"]
    assert await token_works(client, token)

    resp = await client.post("/logout", headers=bearer(token))
    assert resp.status == 200 and await resp.json() == {"status": "OK", "message": "Logged out"}
    cleared = resp.cookies[TOKEN_NAME]
    assert cleared.value == "" and cleared["max-age"] == "0"
    assert not await token_works(client, token)
    await assert_error(await client.get("/currentuser", headers=bearer(token)), 401, "errMsg_NotAuthenticated")

    # Again with the dead token, and with none at all: still 200.
    assert (await client.post("/logout", headers=bearer(token))).status == 200
    assert (await client.post("/logout")).status == 200
    # The kit's other session of the same user is untouched.
    assert await token_works(client, user.token)


async def test_relogin_replaces_the_session(kit):
    client = await kit.client()
    user = await kit.user(client, "student")

    resp = await client.get("/relogin", headers=user.headers)
    assert resp.status == 200, await resp.text()
    session = await resp.json()
    assert session["sessionId"] != user.session_id and session["accessToken"] != user.token
    assert resp.headers[TOKEN_NAME] == session["accessToken"]
    client.session.cookie_jar.clear()
    assert await token_works(client, session["accessToken"])
    assert not await token_works(client, user.token)
    await assert_error(await client.get("/relogin", headers=user.headers), 401, "errMsg_NotAuthenticated")
    await assert_error(await client.get("/relogin"), 401, "errMsg_NotAuthenticated")


async def test_simultaneous_relogins_with_one_token_yield_one_session(kit):
    client = await kit.client()
    user = await kit.user(client, "student")
    responses = await asyncio.gather(*(client.get("/relogin", headers=user.headers) for _ in range(4)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 401, 401, 401], statuses
    client.session.cookie_jar.clear()


async def test_currentuser_returns_the_presented_token(kit):
    client = await kit.client()
    user = await kit.user(client, "tutor")
    resp = await client.get("/currentuser", headers=user.headers)
    body = await resp.json()
    assert resp.status == 200 and set(body) == SESSION_FIELDS
    assert body["accessToken"] == user.token and body["sessionId"] == user.session_id and body["roleId"] == "tutor"
    await assert_error(await client.get("/currentuser"), 401, "errMsg_NotAuthenticated")


async def test_token_locations(kit):
    client = await kit.client()
    user = await kit.user(client, "student")
    other = await kit.user(client, "student")
    for kwargs in (
        {"params": {"access_token": user.token}},
        {"headers": {TOKEN_NAME: user.token}},
        {"cookies": {TOKEN_NAME: user.token}},
    ):
        resp = await client.get("/currentuser", **kwargs)
        assert resp.status == 200 and (await resp.json())["userId"] == user.id, kwargs
    # First found wins: the query string beats the Authorization header.
    resp = await client.get("/currentuser", params={"access_token": user.token}, headers=other.headers)
    assert (await resp.json())["userId"] == user.id


async def test_expired_forged_and_revoked_tokens_are_401(kit):
    client = await kit.client()
    user = await kit.user(client, "student")
    claims = jwt.decode(user.token, options={"verify_signature": False})
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    keys = client.app[AUTH].keys
    expired = jwt.encode({**claims, "exp": past}, keys.signing_key, algorithm="HS256")
    forged = jwt.encode({**claims}, "another-secret-" + "y" * 32, algorithm="HS256")
    for token in (expired, forged, "not-a-jwt", user.token[:-3] + "abc"):
        await assert_error(await client.get("/currentuser", headers=bearer(token)), 401, "errMsg_NotAuthenticated")

    # The session row expiring (or being revoked) kills a token whose signature is still fine.
    assert await token_works(client, user.token)
    async with client.app[DB].transaction() as session:
        await session.execute(update(AuthSession).where(AuthSession.id == user.session_id).values(expires_at=past))
    assert not await token_works(client, user.token)


async def test_publickey_is_404_for_hs256_and_serves_the_rs256_key(kit):
    client = await kit.client()
    await assert_error(await client.get("/publickey"), 404, "errMsg_PublicKeyNotFound")

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    client = await kit.client(auth={"jwt_algorithm": "RS256", "private_key": pem})
    user = await kit.user(client, "student")
    resp = await client.get("/publickey")
    body = await resp.json()
    assert resp.status == 200 and body["keyData"].startswith("-----BEGIN PUBLIC KEY-----")
    claims = jwt.decode(user.token, body["keyData"], algorithms=["RS256"])
    assert claims["sub"] == user.id and jwt.get_unverified_header(user.token)["kid"] == body["keyId"]
    assert (await client.get("/publickey", params={"keyId": body["keyId"]})).status == 200
    await assert_error(await client.get("/publickey", params={"keyId": "old-key"}), 404, "errMsg_PublicKeyNotFound")
    assert "PRIVATE" not in await resp.text()


async def test_permissions_are_derived_from_the_role(kit):
    client = await kit.client(["example"], auth={"grants": {}})
    student = await kit.user(client, "student")
    guest = await kit.user(client, "guest")

    resp = await client.get("/permissions", headers=student.headers)
    grants = await resp.json()
    assert resp.status == 200 and [g["permissionName"] for g in grants] == ["example.write"]
    assert grants[0]["roleId"] == "student" and grants[0]["canDo"] is True
    assert await (await client.get("/permissions", headers=guest.headers)).json() == []
    one = await client.get("/permissions/example.write", headers=student.headers)
    assert await one.json() == {"canDo": True, "exceptions": []}
    one = await client.get("/permissions/example.write", headers=guest.headers)
    assert await one.json() == {"canDo": False, "exceptions": []}
    await assert_error(await client.get("/permissions"), 401, "errMsg_NotAuthenticated")


class FakeLimiter:
    """Counts login attempts per key, refusing beyond `limit` like the real limiter's `hit_key`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.hits: dict[str, int] = {}

    async def check(self, request, bucket):
        return None

    async def hit_key(self, bucket: str, key: str) -> None:
        assert bucket == "login"
        self.hits[key] = self.hits.get(key, 0) + 1
        if self.hits[key] > self.limit:
            raise TooManyRequests("Too many login attempts.", headers={"Retry-After": "60"})


async def test_login_counts_attempts_per_ip_and_per_account(kit):
    app = kit.app()
    limiter = FakeLimiter(limit=2)

    async def install(app_):
        app_[RATE_LIMITER] = limiter
        yield

    app.cleanup_ctx.append(install)
    client = await kit.aiohttp_client(app)
    user = await kit.user(client, "student")
    for _ in range(2):
        await assert_error(await login(client, user.email.upper(), "wrong-password"), 401, "errMsg_InvalidCredentials")
    assert limiter.hits == {"login:ip:127.0.0.1": 2, f"login:account:{user.email}": 2}
    # The third attempt is refused before the password is even checked, right password or not.
    resp = await login(client, user.email, user.password)
    await assert_error(resp, 429, "errMsg_Throttled")
    assert resp.headers["Retry-After"] == "60"


async def test_login_brute_force_limit_with_the_real_limiter(kit):
    client = await kit.client(auth={"login_limit": "3/minute"})
    limiter = client.app.get(RATE_LIMITER)
    if limiter is None or not hasattr(limiter, "hit_key"):
        pytest.skip("core/ratelimit.py (app[RATE_LIMITER] with hit_key) has not landed yet")
    user = await kit.user(client, "student")
    for _ in range(3):
        assert (await login(client, user.email, "wrong-password")).status == 401
    resp = await login(client, user.email, user.password)
    body = await assert_error(resp, 429, "errMsg_Throttled")
    assert body["result"] == "ERR" and int(resp.headers["Retry-After"]) >= 1
    assert "RateLimit-Limit" in resp.headers


async def test_login_records_client_ip_and_user_agent_on_the_session(kit):
    client, _ = await client_with_events(kit)
    user = await kit.user(client, "student")
    found, auth_session, token = await services.login(
        client.app, user.email, user.password, ip="203.0.113.7", user_agent="ua" * 400
    )
    assert found.id == user.id and auth_session.ip_address == "203.0.113.7"
    assert auth_session.user_agent == ("ua" * 400)[:512]
    assert await token_works(client, token)

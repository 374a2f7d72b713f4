"""API tokens: create (plaintext once), list (never the secret), revoke, and where they are accepted."""

from __future__ import annotations

import datetime as dt
import uuid

from auth_support import (
    assert_error,
    bearer,
)
from sqlalchemy import select

from core.auth.models import ApiToken
from core.auth.tokens import hash_api_token
from core.keys import DB


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_create_api_token_returns_the_plaintext_once(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")

    resp = await client.post("/v1/apitokens", json={"name": "  ci  "}, headers=admin.headers)
    body = await resp.json()
    assert resp.status == 201 and body["dataName"] == "apiToken" and body["action"] == "create", body
    token = body["apiToken"]
    assert list(token) == ["id", "name", "token", "expiresAt"]
    assert token["name"] == "ci" and token["token"].startswith("mk_")
    expires_in = _parse(token["expiresAt"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=89, hours=23) < expires_in <= dt.timedelta(days=90)
    async with client.app[DB].session() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == token["id"]))
    assert stored.token_hash == hash_api_token(token["token"]) and token["token"] not in stored.token_hash

    resp = await client.post("/v1/apitokens", json={"name": "week", "expiresInDays": 7}, headers=admin.headers)
    expires_in = _parse((await resp.json())["apiToken"]["expiresAt"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=6, hours=23) < expires_in <= dt.timedelta(days=7)


async def test_create_api_token_rejections(kit):
    client = await kit.client()
    admin = await kit.user(client, "superAdmin")
    tutor = await kit.user(client, "tutor")
    for bad, field in (({}, "name"), ({"name": " "}, "name"), ({"name": "x", "expiresInDays": 0}, "expiresInDays"),
                       ({"name": "x", "expiresInDays": "7"}, "expiresInDays"), ({"name": "x", "expiresInDays": 5000}, "expiresInDays")):
        error = await assert_error(await client.post("/v1/apitokens", json=bad, headers=admin.headers), 400, "errMsg_Invalid")
        assert field in error["detail"]["errors"], error
    await assert_error(await client.post("/v1/apitokens", json={"name": "x"}, headers=tutor.headers), 403, "errMsg_PermissionDenied")
    await assert_error(await client.post("/v1/apitokens", json={"name": "x"}), 401, "errMsg_NotAuthenticated")
    async with client.app[DB].session() as session:
        assert (await session.scalars(select(ApiToken))).all() == []


async def test_api_tokens_work_only_where_routes_accept_them(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    alice = await kit.user(client, "student")
    token = (await (await client.post("/v1/apitokens", json={"name": "sync"}, headers=admin.headers)).json())["apiToken"]["token"]

    for headers in ({"apiToken": token}, bearer(token)):
        resp = await client.get("/v1/users", headers=headers)
        body = await resp.json()
        assert resp.status == 200 and body["userId"] == admin.id and body["sessionId"] is None, body
        assert (await client.get(f"/v1/users/{alice.id}", headers=headers)).status == 200
        assert (await client.get("/v1/searchusers", params={"keyword": "student"}, headers=headers)).status == 200
    for method, path, json in (
        ("PATCH", f"/v1/users/{alice.id}", {"bio": "x"}),
        ("POST", "/v1/apitokens", {"name": "again"}),
        ("GET", "/v1/apitokens", None),
        ("GET", "/currentuser", None),
        ("GET", "/relogin", None),
        ("PATCH", f"/v1/userrole/{alice.id}", {"roleId": "tutor"}),
    ):
        resp = await client.request(method, path, json=json, headers={"apiToken": token})
        await assert_error(resp, 403, "errMsg_ApiTokenNotAccepted")
    me = await (await client.get(f"/v1/users/{alice.id}", headers=alice.headers)).json()
    assert me["user"]["bio"] is None and me["user"]["roleId"] == "student"
    await assert_error(await client.get("/v1/users", headers={"apiToken": "mk_made-up"}), 401, "errMsg_NotAuthenticated")


async def test_list_api_tokens_never_shows_the_secret(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    other = await kit.user(client, "admin")
    root = await kit.user(client, "superAdmin")
    made = {}
    for who, name in ((admin, "mine"), (other, "theirs")):
        resp = await client.post("/v1/apitokens", json={"name": name}, headers=who.headers)
        made[name] = (await resp.json())["apiToken"]

    resp = await client.get("/v1/apitokens", headers=admin.headers)
    text = await resp.text()
    body = await resp.json()
    assert resp.status == 200 and body["dataName"] == "apiTokens", body
    assert [t["name"] for t in body["apiTokens"]] == ["mine"]
    listed = body["apiTokens"][0]
    assert set(listed) == {"id", "name", "userId", "createdAt", "expiresAt", "lastUsedAt", "revokedAt", "isActive"}
    assert listed["isActive"] is True and listed["userId"] == admin.id
    for token in made.values():
        assert token["token"] not in text and hash_api_token(token["token"]) not in text
    assert body["paging"]["totalRowCount"] == 1

    resp = await client.get("/v1/apitokens", headers=root.headers)
    assert sorted(t["name"] for t in (await resp.json())["apiTokens"]) == ["mine", "theirs"]
    # Using a token shows when it was last used.
    assert (await client.get("/v1/users", headers={"apiToken": made["mine"]["token"]})).status == 200
    listed = (await (await client.get("/v1/apitokens", headers=admin.headers)).json())["apiTokens"][0]
    assert listed["lastUsedAt"] is not None
    await assert_error(await client.get("/v1/apitokens", params={"pageRowCount": "0"}, headers=admin.headers),
                       400, "errMsg_Invalid")


async def test_revoke_api_token(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    other = await kit.user(client, "admin")
    root = await kit.user(client, "superAdmin")
    token = (await (await client.post("/v1/apitokens", json={"name": "t"}, headers=admin.headers)).json())["apiToken"]
    assert (await client.get("/v1/users", headers={"apiToken": token["token"]})).status == 200

    await assert_error(await client.delete(f"/v1/apitokens/{token['id']}", headers=other.headers), 404, "errMsg_ApiTokenNotFound")
    assert (await client.get("/v1/users", headers={"apiToken": token["token"]})).status == 200

    resp = await client.delete(f"/v1/apitokens/{token['id']}", headers=admin.headers)
    body = await resp.json()
    assert resp.status == 200 and body["action"] == "delete" and body["apiToken"]["isActive"] is False
    assert body["apiToken"]["revokedAt"] is not None and "token" not in body["apiToken"]
    await assert_error(await client.get("/v1/users", headers={"apiToken": token["token"]}), 401, "errMsg_NotAuthenticated")
    await assert_error(await client.delete(f"/v1/apitokens/{token['id']}", headers=admin.headers), 404, "errMsg_ApiTokenNotFound")
    await assert_error(await client.delete("/v1/apitokens/123", headers=admin.headers), 400, "errMsg_apiTokenIdisNotAValidID")

    # A superAdmin can revoke anyone's token.
    kit_token = await kit.api_token(client, other)
    listed = (await (await client.get("/v1/apitokens", headers=other.headers)).json())["apiTokens"]
    assert (await client.delete(f"/v1/apitokens/{listed[0]['id']}", headers=root.headers)).status == 200
    await assert_error(await client.get("/v1/users", headers={"apiToken": kit_token}), 401, "errMsg_NotAuthenticated")
    await assert_error(await client.delete(f"/v1/apitokens/{uuid.uuid4()}", headers=root.headers), 404, "errMsg_ApiTokenNotFound")


async def test_expired_api_token_and_demoted_owner_are_rejected(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    root = await kit.user(client, "superAdmin")
    token = await kit.api_token(client, admin)
    assert (await client.get("/v1/users", headers={"apiToken": token})).status == 200
    async with client.app[DB].transaction() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(token)))
        stored.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    await assert_error(await client.get("/v1/users", headers={"apiToken": token}), 401, "errMsg_NotAuthenticated")

    fresh = await kit.api_token(client, admin)
    assert (await client.get("/v1/users", headers={"apiToken": fresh})).status == 200
    assert (await client.patch(f"/v1/userrole/{admin.id}", json={"roleId": "tutor"}, headers=root.headers)).status == 200
    await assert_error(await client.get("/v1/users", headers={"apiToken": fresh}), 401, "errMsg_NotAuthenticated")

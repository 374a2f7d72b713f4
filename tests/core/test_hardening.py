"""Hardening: concurrent API-token use, secrets kept out of errors and printed settings,
bad input (NUL characters, absurd page numbers) answered as 400s, deployment settings
(env overrides for plugin sections, base_url behind a proxy, secure cookies) honoured."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from core import PluginSpec, hookimpl
from core.auth.models import ApiToken
from core.db import Database
from core.keys import DB


async def test_concurrent_requests_with_a_fresh_api_token_all_succeed(kit):
    """The first use of a token records `last_used_at`. Done as a read that upgrades to a
    write, concurrent first uses on SQLite failed with SQLITE_BUSY (a 500) instead of waiting."""
    client = await kit.client()
    admin = await kit.user(client, "admin")
    for _ in range(3):
        token = await kit.api_token(client, admin)
        responses = await asyncio.gather(*(client.get("/v1/users", headers={"apiToken": token}) for _ in range(12)))
        assert [r.status for r in responses] == [200] * 12, [await r.text() for r in responses if r.status != 200][:1]
    async with client.app[DB].session() as session:
        used = (await session.scalars(select(ApiToken.last_used_at))).all()
    assert len(used) == 3 and all(used)


async def test_database_errors_do_not_carry_statement_parameters(database_url):
    """Unexpected database errors are logged with their traceback; SQLAlchemy puts the
    statement's parameters in the message, which for a password change is the new hash."""
    db = Database(database_url)
    secret = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LWhhc2g"
    try:
        with pytest.raises(DBAPIError) as caught:
            async with db.transaction() as session:
                await session.execute(text("UPDATE no_such_table SET password_hash = :h"), {"h": secret})
    finally:
        await db.dispose()
    assert secret not in str(caught.value)


def test_env_overrides_reach_plugin_sections_without_a_file_section():
    """`MENTORKIT_<SECTION>_<KEY>` works for every key, plugin sections included, even
    when the config file has no table for that plugin (or there is no file at all)."""
    from core.app import create_app
    from core.config import load_settings

    environ = {
        "MENTORKIT_QNA_MAX_ACTIVE_ORDERS": "7",
        "MENTORKIT_EXAMPLE_MAX_NOTE_LENGTH": "50",
        "MENTORKIT_PLUGINS": "qna,example",
    }
    settings = load_settings(None, environ=environ)
    create_app(settings)  # validates the enabled plugins' sections
    assert settings.section("qna").max_active_orders == 7
    assert settings.section("example").max_note_length == 50


class PagedPlugin:
    """One drf-paged route over 25 numbers."""

    spec = PluginSpec("paged")

    @staticmethod
    @hookimpl
    def register_routes():
        from core import PUBLIC, Routes
        from core.envelopes import drf

        routes = Routes(envelope="drf")

        @routes.get("/paged/items", access=PUBLIC)
        async def items(request):
            page = int(request.query.get("page", "1"))
            return drf.page(request, list(range((page - 1) * 10, min(page * 10, 25))), page=page, page_size=10, total=25)

        return routes


@pytest.mark.parametrize("base_url", ["https://api.example.com", "https://api.example.com/mk/"])
async def test_drf_page_links_use_server_base_url(kit_sqlite, base_url):
    """`server.base_url` (documented in default.toml, set in the production example) is
    the public address behind a TLS-terminating proxy: the links the server hands out
    must use it, not the internal http://127.0.0.1:8080 the request arrived on."""
    from fakeplugins import installed

    client = await kit_sqlite.client(
        ["paged"], installed=installed(paged="test_hardening:PagedPlugin"), server={"base_url": base_url}
    )
    body = await (await client.get("/paged/items", params={"page": "2", "x": "a b"})).json()
    root = base_url.rstrip("/")
    assert body["next"] == f"{root}/paged/items?page=3&x=a+b&page_size=10", body
    assert body["previous"] == f"{root}/paged/items?page=1&x=a+b&page_size=10", body

    plain = await kit_sqlite.client(["paged"], installed=installed(paged="test_hardening:PagedPlugin"))
    body = await (await plain.get("/paged/items", params={"page": "2"})).json()
    assert body["next"] == str(plain.make_url("/paged/items?page=3&page_size=10")), body


class WhoPlugin:
    """Public routes that report who the core says is calling."""

    spec = PluginSpec("who")

    @staticmethod
    @hookimpl
    def register_routes():
        from core import PUBLIC, Routes
        from core.jsonutil import json_response
        from core.keys import IDENTITY
        from core.routing import Access

        routes = Routes(envelope="drf")

        async def who(request):
            identity = request[IDENTITY]
            return json_response({"userId": identity.user_id if identity else None})

        routes.get("/who/public", access=PUBLIC)(who)
        routes.get("/who/named/{name}", access=PUBLIC)(who)
        routes.get("/who/public-tokens", access=Access("public", api_token=True))(who)
        return routes


async def test_api_token_is_no_identity_on_public_routes_that_do_not_accept_it(kit_sqlite):
    """An API token works only on routes that accept API tokens. A public route that does
    not must see an anonymous caller, not the admin behind the token (a plugin showing
    admins more on a public route would otherwise show it to every machine client)."""
    from fakeplugins import installed

    client = await kit_sqlite.client(["who"], installed=installed(who="test_hardening:WhoPlugin"))
    admin = await kit_sqlite.user(client, "admin")
    token = await kit_sqlite.api_token(client, admin)

    assert await (await client.get("/who/public", headers={"apiToken": token})).json() == {"userId": None}
    assert await (await client.get("/who/public", headers={"Authorization": f"Bearer {token}"})).json() == {"userId": None}
    assert await (await client.get("/who/public-tokens", headers={"apiToken": token})).json() == {"userId": admin.id}
    assert await (await client.get("/who/public", headers=admin.headers)).json() == {"userId": admin.id}


def test_production_example_makes_the_cookie_secure():
    """The contract's login cookie is HttpOnly and Secure. The embedded default serves plain
    http (so it cannot be Secure there); the production example must turn it on."""
    from pathlib import Path

    from core.config import load_settings

    example = Path(__file__).resolve().parents[2] / "config" / "production.example.toml"
    assert load_settings(example, environ={}).auth.cookie_secure is True


async def test_cookie_secure_sets_the_secure_flag(kit_sqlite):
    from core.auth.identity import TOKEN_NAME

    client = await kit_sqlite.client(auth={"cookie_secure": True})
    alice = await kit_sqlite.user(client)
    resp = await client.post("/login", json={"username": alice.email, "password": alice.password})
    cookie = resp.cookies[TOKEN_NAME]
    assert resp.status == 200 and cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


def test_passwords_inside_urls_are_masked_in_repr():
    """`database.url` and `redis.url` carry the database and Redis passwords; a logged
    section must not show them (the other secrets are already masked)."""
    from core.config import Settings

    settings = Settings({
        "database": {"url": "postgresql+asyncpg://mentorkit:pg-Secret-1@db.internal:5432/mk"},
        "redis": {"url": "redis://:redis-Secret-2@cache:6379/0"},
    })
    shown = repr(settings.database) + repr(settings.redis)
    assert "pg-Secret-1" not in shown and "redis-Secret-2" not in shown, shown
    assert "db.internal:5432/mk" in shown and "cache:6379/0" in shown, shown
    assert settings.database.url.endswith("pg-Secret-1@db.internal:5432/mk")  # the value itself is intact


async def test_nul_characters_are_a_400_not_a_500(kit):
    """PostgreSQL text cannot hold U+0000: a NUL in a body, query or path value reached the
    database and came back as a 500 there (SQLite stored it). It is bad input on both."""
    from fakeplugins import installed

    client = await kit.client(["who"], installed=installed(who="test_hardening:WhoPlugin"))
    admin = await kit.user(client, "admin")

    resp = await client.post("/v1/registeruser", json={"email": "nul@example.com", "password": "x" * 10, "fullname": "A\x00B"})
    body = await resp.json()
    assert resp.status == 400 and body["message"] == "errMsg_Invalid", body
    resp = await client.post("/login", json={"username": "a\x00@example.com", "password": "x" * 10})
    assert resp.status == 400, await resp.text()
    resp = await client.get("/v1/users", params=[("email", "a"), ("email", "b\x00")], headers=admin.headers)
    assert resp.status == 400, await resp.text()
    resp = await client.get("/who/named/a%00b")
    body = await resp.json()
    assert resp.status == 400 and set(body) >= {"detail", "code"}, body  # in the route's (drf) style
    async with client.app[DB].session() as session:
        assert (await session.execute(text("SELECT count(*) FROM users"))).scalar_one() == 1

    # An escaped backslash followed by "u0000" is ordinary text, not a NUL.
    resp = await client.post("/v1/registeruser", json={"email": "ok@example.com", "password": "x" * 10, "fullname": "A\\u0000B"})
    assert resp.status == 201 and (await resp.json())["user"]["fullname"] == "A\\u0000B"


@pytest.mark.parametrize("path", [
    "/v1/users?pageNumber=99999999999999999999",
    "/v1/users?pageNumber=9223372036854775807&pageRowCount=10000",
    "/v1/searchusers?keyword=a&pageNumber=99999999999999999999",
    "/v1/apitokens?pageNumber=99999999999999999999",
    "/v1/notifications?pageNumber=99999999999999999999",
])
async def test_page_numbers_past_any_offset_are_a_400(kit, path):
    """A page number whose offset overflows a 64-bit integer was a database error (500)."""
    client = await kit.client()
    admin = await kit.user(client, "admin")
    resp = await client.get(path, headers=admin.headers)
    body = await resp.json()
    assert resp.status == 400 and body["message"] == "errMsg_Invalid" and "pageNumber" in body["detail"]["errors"], body

"""Every answer of the plugin, success or failure, is the exact Sunbird envelope."""

from __future__ import annotations

from dialcode_world import CHANNEL, PUBLISHER, assert_envelope

RESERVE_ID = "ekstep.learning.content.dialcode.reserve"


async def test_success_envelope_echoes_msgid(world):
    book = await world.content()
    reply = await world.reserve(book, 2, msgid="msg-123")
    assert reply.status == 200
    assert_envelope(reply.body, 200, RESERVE_ID, msgid="msg-123")
    reply = await world.call("GET", f"/content/v3/read/{book}")
    assert_envelope(reply.body, 200, "ekstep.learning.content.read")


async def test_error_envelope_echoes_msgid_and_carries_code(world):
    reply = await world.reserve("do_404", 2, msgid="msg-err")
    assert reply.status == 404
    assert_envelope(reply.body, 404, RESERVE_ID, err="ERR_CONTENT_NOT_FOUND", msgid="msg-err")
    assert reply.errmsg == "Content not found with id: do_404"
    assert reply.result == {}


async def test_partial_success_is_207(world):
    reply = await world.generate(1001)
    assert reply.status == 207
    assert_envelope(reply.body, 207, "sunbird.dialcode.generate")
    assert reply.result["count"] == 1000 and len(set(reply.result["dialcodes"])) == 1000


async def test_unknown_path_under_the_plugin_is_a_sunbird_404(world):
    for method, path in (("GET", "/dialcode/v3/nope"), ("POST", "/content/v3/dialcode/nope/x"),
                         ("GET", "/content/v3/read/"), ("DELETE", "/dialcode/v3/publisher/create/extra")):
        resp = await world.client.request(method, path, headers=world.headers())
        assert resp.status == 404, path
        body = await resp.json()
        assert_envelope(body, 404, "api.error", err="ERR_API_NOT_FOUND")


async def test_wrong_method_on_a_known_path_is_a_sunbird_405(world):
    resp = await world.client.get("/dialcode/v3/generate", headers=world.headers())
    assert resp.status == 405 and "POST" in resp.headers["Allow"]
    assert_envelope(await resp.json(), 405, "api.error", err="method_not_allowed")


async def test_no_token_is_a_sunbird_401_and_wrong_role_403(world):
    resp = await world.client.post("/content/v3/dialcode/reserve/do_1", json={"request": {}},
                                   headers={"X-Channel-Id": CHANNEL})
    assert resp.status == 401
    assert_envelope(await resp.json(), 401, RESERVE_ID, err="not_authenticated")
    student = await world.kit.user(world.client, "student")
    reply = await world.call("POST", "/dialcode/v3/generate", {"dialcodes": {"count": 1, "publisher": PUBLISHER}},
                             user=student)
    assert reply.status == 403
    assert_envelope(reply.body, 403, "sunbird.dialcode.generate", err="permission_denied")


async def test_malformed_json_is_a_client_error(world):
    book = await world.content()
    for raw in (b"{not json", b"[1, 2]", b'"text"'):
        reply = await world.call("POST", f"/content/v3/dialcode/reserve/{book}", raw=raw)
        assert reply.status == 400
        assert_envelope(reply.body, 400, RESERVE_ID, err="ERR_INVALID_REQUEST")
    assert (await world.read(book))["reservedDialcodes"] is None


async def test_every_route_answers_in_sunbird_style(world):
    book = await world.content()
    cases = [
        ("POST", "/dialcode/v3/publisher/create", {}, "sunbird.publisher.create", "ERR_INVALID_PUBLISHER_CREATION_REQUEST"),
        ("GET", "/dialcode/v3/publisher/read/nobody", None, "sunbird.publisher.info", "ERR_INVALID_PUBLISHER_READ_REQUEST"),
        ("POST", "/dialcode/v3/generate", {}, "sunbird.dialcode.generate", "ERR_INVALID_DIALCODE_REQUEST"),
        ("GET", "/dialcode/v3/read/ZZZZZZ", None, "sunbird.dialcode.read", "ERR_DIALCODE_INFO"),
        ("POST", "/content/v3/create", {}, "ekstep.learning.content.create", "ERR_REQUEST_BLANK"),
        ("GET", "/content/v3/read/do_0", None, "ekstep.learning.content.read", "ERR_CONTENT_NOT_FOUND"),
        ("PATCH", f"/content/v3/update/{book}", {}, "ekstep.learning.content.update", "ERR_REQUEST_BLANK"),
        ("POST", "/content/v3/dialcode/link", {}, "ekstep.learning.content.dialcode.link", "ERR_DIALCODE_LINK_REQUEST"),
        ("POST", f"/content/v3/dialcode/reserve/{book}", {}, RESERVE_ID, "ERR_REQUEST_BLANK"),
        ("PATCH", f"/content/v3/dialcode/release/{book}", {}, "ekstep.learning.content.dialcode.release",
         "ERR_CONTENT_MISSING_RESERVED_DIAL_CODES"),
    ]
    for method, path, request, api_id, err in cases:
        reply = await world.call(method, path, request, msgid="m-1" if request is not None else None)
        assert reply.status in (400, 404), (path, reply.body)
        assert_envelope(reply.body, reply.status, api_id, err=err, msgid="m-1" if request is not None else None)

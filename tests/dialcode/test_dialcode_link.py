"""Link: a code must be reserved on the textbook the node belongs to; nothing changes on error."""

from __future__ import annotations

from dialcode_world import OTHER_CHANNEL, assert_envelope

LINK_ID = "ekstep.learning.content.dialcode.link"


async def two_books(world):
    book_a = await world.content(name="A")
    unit_a = await world.content("TextBookUnit", parent=book_a)
    book_b = await world.content(name="B")
    unit_b = await world.content("TextBookUnit", parent=book_b)
    codes_a = list((await world.reserve(book_a, 3)).result["reservedDialcodes"])
    codes_b = list((await world.reserve(book_b, 2)).result["reservedDialcodes"])
    return book_a, unit_a, book_b, unit_b, codes_a, codes_b


async def test_link_sets_and_replaces_a_nodes_codes(world):
    book_a, unit_a, _, _, codes_a, _ = await two_books(world)
    version = (await world.read(unit_a))["versionKey"]
    reply = await world.link([unit_a], [codes_a[2], codes_a[0]])
    assert reply.status == 200, reply.body
    assert_envelope(reply.body, 200, LINK_ID)
    unit = await world.read(unit_a)
    assert unit["dialcodes"] == [codes_a[2], codes_a[0]] and unit["versionKey"] != version
    assert unit["parent"] == book_a and unit["reservedDialcodes"] is None
    await world.link([unit_a], [codes_a[1]])
    assert (await world.read(unit_a))["dialcodes"] == [codes_a[1]]
    # The list form of the request, one entry per node.
    reply = await world.call("POST", "/content/v3/dialcode/link", {"content": [
        {"identifier": unit_a, "dialcode": []}, {"identifier": [book_a], "dialcode": codes_a[0]}]})
    assert reply.status == 200
    assert (await world.read(unit_a))["dialcodes"] == []
    assert (await world.read(book_a))["dialcodes"] == [codes_a[0]]


async def test_code_of_another_textbook_is_refused(world):
    book_a, unit_a, book_b, unit_b, codes_a, codes_b = await two_books(world)
    reply = await world.link([unit_a], [codes_a[0], codes_b[0]])
    assert reply.status == 400
    assert_envelope(reply.body, 400, LINK_ID, err="ERR_DIALCODE_LINK_REQUEST")
    assert codes_b[0] in reply.errmsg and book_a in reply.errmsg
    assert (await world.read(unit_a))["dialcodes"] == []
    # A generated code that no textbook reserved is refused too.
    loose = (await world.generate(1)).result["dialcodes"][0]
    reply = await world.link([unit_b], [loose])
    assert reply.status == 400 and reply.err == "ERR_DIALCODE_LINK_REQUEST"


async def test_unknown_codes_and_contents_are_404(world):
    _, unit_a, _, _, codes_a, _ = await two_books(world)
    reply = await world.link([unit_a], ["A1B2C3"])
    assert reply.status == 404 and reply.err == "ERR_DIALCODE_LINK" and "A1B2C3" in reply.errmsg
    reply = await world.link([unit_a, "do_nothing"], [codes_a[0]])
    assert reply.status == 404 and reply.err == "ERR_DIALCODE_LINK" and "do_nothing" in reply.errmsg
    assert (await world.read(unit_a))["dialcodes"] == []


async def test_channel_and_request_shape(world):
    _, unit_a, _, _, codes_a, _ = await two_books(world)
    reply = await world.link([unit_a], [codes_a[0]], channel=OTHER_CHANNEL)
    assert reply.status == 400 and reply.err == "ERR_CONTENT_INVALID_CHANNEL"
    for request in ({}, {"content": "x"}, {"content": []}):
        reply = await world.call("POST", "/content/v3/dialcode/link", request)
        assert reply.status == 400 and reply.err == "ERR_DIALCODE_LINK_REQUEST"
    reply = await world.call("POST", "/content/v3/dialcode/link", {"content": {"identifier": [unit_a]}})
    assert reply.status == 400 and reply.err == "ERR_DIALCODE_CONTENT_LINK_FIELDS_MISSING"
    reply = await world.call("POST", "/content/v3/dialcode/link", {"content": {"identifier": [], "dialcode": []}})
    assert reply.status == 400 and reply.err == "ERR_DIALCODE_LINK_REQUEST"
    reply = await world.link([f"do_{i}" for i in range(11)], [codes_a[0]])
    assert reply.status == 400 and "Max Limit" in reply.errmsg


async def test_linked_codes_are_used_for_release_anywhere_in_the_tree(world):
    book_a, unit_a, _, _, codes_a, _ = await two_books(world)
    deep = await world.content("TextBookUnit", parent=unit_a)
    deeper = await world.content("Resource", parent=deep)
    await world.link([deeper], [codes_a[0]])
    reply = await world.release(book_a)
    assert reply.status == 200 and codes_a[0] not in reply.result["releasedDialcodes"]
    assert reply.result["reservedDialcodes"] == {codes_a[0]: 0}

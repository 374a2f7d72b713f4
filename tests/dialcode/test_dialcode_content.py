"""Publishers, generation and the content tree."""

from __future__ import annotations

import datetime as dt

from dialcode_world import CHANNEL, OTHER_CHANNEL, PUBLISHER, assert_envelope

from plugins.dialcode import generator


async def test_publisher_create_and_read(world):
    reply = await world.call("POST", "/dialcode/v3/publisher/create",
                             {"publisher": {"identifier": "CBSE", "name": "Central Board"}})
    assert reply.status == 200 and reply.result["identifier"] == "CBSE"
    reply = await world.call("GET", "/dialcode/v3/publisher/read/CBSE")
    assert_envelope(reply.body, 200, "sunbird.publisher.info")
    publisher = reply.result["publisher"]
    assert publisher["identifier"] == "CBSE" and publisher["name"] == "Central Board"
    assert publisher["channel"] == CHANNEL and publisher["createdOn"].endswith("+0000")


async def test_publisher_errors(world):
    path = "/dialcode/v3/publisher/create"
    cases = [({}, "Invalid Request"), ({"publisher": {"name": "x"}}, "Invalid Publisher Identifier"),
             ({"publisher": {"identifier": " ", "name": "x"}}, "Invalid Publisher Identifier"),
             ({"publisher": {"identifier": "P2"}}, "Invalid Publisher Name"),
             ({"publisher": {"identifier": PUBLISHER, "name": "again"}},
              f"Publisher with identifier: {PUBLISHER} already exists.")]
    for request, message in cases:
        reply = await world.call("POST", path, request)
        assert reply.status == 400 and reply.err == "ERR_INVALID_PUBLISHER_CREATION_REQUEST", reply.body
        assert reply.errmsg == message
    reply = await world.call("POST", path, {"publisher": {"identifier": "P3", "name": "x"}}, channel=None)
    assert reply.status == 400 and reply.err == "ERR_INVALID_CHANNEL_ID"
    reply = await world.call("GET", "/dialcode/v3/publisher/read/P3")
    assert reply.status == 404 and reply.err == "ERR_INVALID_PUBLISHER_READ_REQUEST"


async def test_generate_codes_and_default_batchcode(world):
    world.kit.clock.set(dt.datetime(2026, 11, 22, 10, 0, 5, tzinfo=dt.timezone.utc))
    reply = await world.generate(3)
    assert reply.status == 200
    assert reply.result == {"count": 3, "batchcode": f"{PUBLISHER}.20261122T100005", "publisher": PUBLISHER,
                            "dialcodes": ["E7Q6X6", "R4C1M2", "U3H8T1"]}
    reply = await world.generate(2, batchCode="print-run-7")
    assert reply.result["batchcode"] == "print-run-7"
    assert reply.result["dialcodes"] == [code for _, code in generator.next_codes(238, 2)]
    code = (await world.call("GET", f"/dialcode/v3/read/{reply.result['dialcodes'][0]}")).result["dialcode"]
    assert code["batchcode"] == "print-run-7" and code["generated_on"] == "2026-11-22T10:00:05.000+0000"


async def test_generate_errors_in_order(world):
    cases = [
        ("abc", "nobody", "ERR_INVALID_COUNT", "Please Provide Valid Number Of DIAL Codes."),
        (None, "nobody", "ERR_INVALID_COUNT", None),
        (0, "nobody", "ERR_COUNT_VALIDATION_FAILED", "Please give valid count to generate."),
        (-4, PUBLISHER, "ERR_COUNT_VALIDATION_FAILED", None),
        (2, "nobody", "ERR_INVALID_PUBLISHER", "Invalid Publisher. Please Provide Correct Publisher Details."),
        (2, None, "ERR_INVALID_PUBLISHER", None),
    ]
    for count, publisher, err, message in cases:
        reply = await world.generate(count, publisher)
        assert reply.status == 400 and reply.err == err, (count, publisher, reply.body)
        if message:
            assert reply.errmsg == message
    # None of it used up an index.
    assert (await world.generate(1)).result["dialcodes"] == ["E7Q6X6"]


async def test_content_tree_create_read_update(world):
    book = await world.content(name="Science")
    chapter = await world.content("TextBookUnit", parent=book, name="Light")
    lesson = await world.content("Resource", parent=chapter, name="Mirrors")
    content = await world.read(book)
    assert content["identifier"].startswith("do_") and content["identifier"][3:].isdigit()
    assert content["contentType"] == "TextBook" and content["status"] == "Draft" and content["parent"] is None
    assert content["children"] == [chapter] and content["dialcodes"] == []
    assert (await world.read(chapter))["children"] == [lesson]

    version = (await world.read(chapter))["versionKey"]
    reply = await world.call("PATCH", f"/content/v3/update/{chapter}",
                             {"content": {"name": "Light and shadow", "status": "Live", "versionKey": version}})
    assert reply.status == 200, reply.body
    assert_envelope(reply.body, 200, "ekstep.learning.content.update")
    updated = await world.read(chapter)
    assert updated["name"] == "Light and shadow" and updated["status"] == "Live"
    assert updated["versionKey"] == reply.result["versionKey"] != version

    reply = await world.call("PATCH", f"/content/v3/update/{chapter}", {"content": {"name": "x", "versionKey": version}})
    assert reply.status == 400 and reply.err == "ERR_STALE_VERSION_KEY"
    reply = await world.call("PATCH", f"/content/v3/update/{chapter}", {"content": {"parent": book, "status": "Gone"}})
    assert reply.status == 400 and reply.err == "ERR_CONTENT_VALIDATION_FAILED"
    assert len(reply.result["messages"]) == 2
    reply = await world.call("PATCH", f"/content/v3/update/{chapter}", {"content": {"name": "y"}}, channel=OTHER_CHANNEL)
    assert reply.status == 400 and reply.err == "ERR_CONTENT_INVALID_CHANNEL"
    reply = await world.call("PATCH", "/content/v3/update/do_0", {"content": {"name": "y"}})
    assert reply.status == 404 and reply.err == "ERR_CONTENT_NOT_FOUND"
    assert (await world.read(chapter))["name"] == "Light and shadow"


async def test_content_create_validation(world):
    book = await world.content()
    resource = await world.content("Resource")
    other = await world.content(channel=OTHER_CHANNEL)
    path = "/content/v3/create"
    bad = [
        {"name": "", "contentType": "TextBook"},
        {"name": "x", "contentType": "Poster"},
        {"name": "x", "contentType": "TextBook", "parent": book},
        {"name": "x", "contentType": "TextBookUnit"},
        {"name": "x", "contentType": "TextBookUnit", "parent": "do_0"},
        {"name": "x", "contentType": "TextBookUnit", "parent": resource},
        {"name": "x", "contentType": "TextBook", "status": "Gone"},
        {"name": "x", "contentType": "TextBook", "reservedDialcodes": {"A1B2C3": 0}},
    ]
    for data in bad:
        reply = await world.call("POST", path, {"content": data})
        assert reply.status == 400 and reply.err == "ERR_CONTENT_VALIDATION_FAILED", (data, reply.body)
        assert reply.result["messages"]
    reply = await world.call("POST", path, {"content": {"name": "x", "contentType": "TextBookUnit", "parent": other}})
    assert reply.status == 400 and reply.err == "ERR_CONTENT_INVALID_CHANNEL"
    reply = await world.call("POST", path, {"content": {"name": "x", "contentType": "TextBook"}}, channel=None)
    assert reply.status == 400 and reply.err == "ERR_CONTENT_INVALID_CHANNEL"
    assert (await world.read(book))["children"] == []


async def test_read_checks_the_channel(world):
    book = await world.content()
    reply = await world.call("GET", f"/content/v3/read/{book}", channel=OTHER_CHANNEL)
    assert reply.status == 400 and reply.err == "ERR_CONTENT_INVALID_CHANNEL"

"""Reserve: every check in the contract's order (the first failing rule wins), then top-up."""

from __future__ import annotations

from dialcode_world import OTHER_CHANNEL, PUBLISHER, assert_envelope

from plugins.dialcode import generator

RESERVE_ID = "ekstep.learning.content.dialcode.reserve"


async def expect(reply, status, err, errmsg=None):
    assert reply.status == status, reply.body
    assert_envelope(reply.body, status, RESERVE_ID, err=err)
    if errmsg is not None:
        assert reply.errmsg == errmsg


async def test_first_reservation_gets_the_first_codes_with_indices_from_zero(world):
    book = await world.content()
    before = await world.read(book)
    reply = await world.reserve(book, 3)
    assert reply.status == 200, reply.body
    assert_envelope(reply.body, 200, RESERVE_ID)
    assert reply.result == {
        "count": 3,
        "node_id": book,
        "reservedDialcodes": {"E7Q6X6": 0, "R4C1M2": 1, "U3H8T1": 2},
        "versionKey": reply.result["versionKey"],
    }
    assert reply.result["versionKey"] != before["versionKey"]
    content = await world.read(book)
    assert content["reservedDialcodes"] == {"E7Q6X6": 0, "R4C1M2": 1, "U3H8T1": 2}
    assert content["versionKey"] == reply.result["versionKey"]
    code = (await world.call("GET", "/dialcode/v3/read/E7Q6X6")).result["dialcode"]
    assert code["batchcode"] == book and code["publisher"] == PUBLISHER and code["dialcode_index"] == 233
    assert code["channel"] == "channel-a" and code["status"] == "Draft"


async def test_top_up_adds_only_the_difference_with_following_indices(world):
    book = await world.content()
    first = (await world.reserve(book, 20)).result["reservedDialcodes"]
    assert sorted(first.values()) == list(range(20))
    reply = await world.reserve(book, 25)
    assert reply.status == 200 and reply.result["count"] == 25
    after = reply.result["reservedDialcodes"]
    assert {code: after[code] for code in first} == first
    new = {code: index for code, index in after.items() if code not in first}
    assert sorted(new.values()) == [20, 21, 22, 23, 24]
    # The new five are exactly the next five codes the generator issues.
    expected = [code for _, code in generator.next_codes(0, 25)[20:]]
    assert sorted(new, key=new.get) == expected


async def test_count_not_above_existing_returns_the_existing_map(world):
    book = await world.content()
    reserved = (await world.reserve(book, 4)).result["reservedDialcodes"]
    for count in (4, 2):
        reply = await world.reserve(book, count)
        await expect(reply, 400, "ERR_INVALID_COUNT",
                     "No new DIAL Codes have been generated, as requested count is less or equal to existing "
                     "reserved dialcode count.")
        assert reply.body["responseCode"] == "CLIENT_ERROR"
        assert reply.result == {"count": 4, "node_id": book, "reservedDialcodes": reserved}
    # Nothing was generated: the next generate continues right after the four.
    codes = (await world.generate(1)).result["dialcodes"]
    assert codes == [generator.next_codes(0, 5)[4][1]]


async def test_rule_1_blank_request_wins_over_missing_content(world):
    for request in ({}, {"dialcodes": {}}, {"dialcodes": None}, {"dialcodes": [1]}):
        reply = await world.call("POST", "/content/v3/dialcode/reserve/do_missing", request)
        await expect(reply, 400, "ERR_REQUEST_BLANK", "Request can not be blank.")
    reply = await world.call("POST", "/content/v3/dialcode/reserve/do_missing", raw=b"")
    await expect(reply, 400, "ERR_REQUEST_BLANK")


async def test_rule_2_missing_content_wins_over_bad_count(world):
    reply = await world.reserve("do_missing", "many", publisher="nobody")
    await expect(reply, 404, "ERR_CONTENT_NOT_FOUND", "Content not found with id: do_missing")


async def test_rule_3_content_type_wins_over_channel(world):
    book = await world.content()
    unit = await world.content("TextBookUnit", parent=book)
    resource = await world.content("Resource")
    for content_id in (unit, resource):
        reply = await world.reserve(content_id, 2, channel=OTHER_CHANNEL)
        await expect(reply, 400, "ERR_CONTENT_CONTENTTYPE", "Invalid Content Type.")


async def test_rule_4_channel_wins_over_retired(world):
    book = await world.content(status="Retired")
    await expect(await world.reserve(book, 2, channel=OTHER_CHANNEL), 400, "ERR_CONTENT_INVALID_CHANNEL",
                 "Invalid Channel Id.")
    await expect(await world.reserve(book, 2, channel=None), 400, "ERR_CONTENT_INVALID_CHANNEL")


async def test_rule_5_retired_wins_over_bad_count(world):
    book = await world.content(status="Retired")
    await expect(await world.reserve(book, "x"), 400, "ERR_CONTENT_RETIRED_OBJECT_ID")


async def test_rule_6_count_wins_over_bad_publisher(world):
    book = await world.content()
    for count in ("5", 5.0, True, None, [5]):
        dialcodes = {"publisher": "nobody"} if count is None else {"count": count, "publisher": "nobody"}
        reply = await world.call("POST", f"/content/v3/dialcode/reserve/{book}", {"dialcodes": dialcodes})
        await expect(reply, 400, "ERR_INVALID_COUNT", "Invalid dialcode count.")
    for count in (0, -1, 251):
        await expect(await world.reserve(book, count, publisher="nobody"), 400, "ERR_INVALID_COUNT_RANGE",
                     "Invalid dialcode count range. It should be between 1 to 250.")


async def test_rule_7_publisher_wins_over_count_not_above_existing(world):
    book = await world.content()
    await world.reserve(book, 5)
    for publisher in ("nobody", None, 42):
        reply = await world.reserve(book, 3, publisher=publisher)
        await expect(reply, 400, "ERR_INVALID_PUBLISHER")
        assert reply.result == {}


async def test_boundaries_1_and_250_are_accepted(world):
    book = await world.content()
    assert (await world.reserve(book, 1)).status == 200
    reply = await world.reserve(book, 250)
    assert reply.status == 200 and reply.result["count"] == 250
    assert sorted(reply.result["reservedDialcodes"].values()) == list(range(250))


async def test_a_failed_reserve_changes_nothing(world):
    book = await world.content()
    version = (await world.read(book))["versionKey"]
    await world.reserve(book, 2, publisher="nobody")
    content = await world.read(book)
    assert content["reservedDialcodes"] is None and content["versionKey"] == version
    assert (await world.generate(1)).result["dialcodes"] == ["E7Q6X6"]

"""Release: the contract's checks in order; unused codes go, highest index first."""

from __future__ import annotations

from dialcode_world import OTHER_CHANNEL, assert_envelope

RELEASE_ID = "ekstep.learning.content.dialcode.release"


async def expect(reply, status, err, errmsg=None):
    assert reply.status == status, reply.body
    assert_envelope(reply.body, status, RELEASE_ID, err=err)
    if errmsg is not None:
        assert reply.errmsg == errmsg


async def textbook_tree(world, reserve: int):
    """A textbook with a chapter, a section inside it, and `reserve` codes (index order)."""
    book = await world.content()
    chapter = await world.content("TextBookUnit", parent=book, name="Chapter 1")
    section = await world.content("TextBookUnit", parent=chapter, name="Section 1.1")
    reserved = (await world.reserve(book, reserve)).result["reservedDialcodes"]
    codes = sorted(reserved, key=reserved.get)
    return book, chapter, section, codes


async def test_release_keeps_used_codes_and_releases_highest_index_first(world):
    book, chapter, section, codes = await textbook_tree(world, 6)
    assert (await world.link([section], [codes[5]])).status == 200   # two levels below the book
    assert (await world.link([book], [codes[1]])).status == 200      # on the book itself

    reply = await world.release(book, 2)
    assert reply.status == 200, reply.body
    assert_envelope(reply.body, 200, RELEASE_ID)
    assert reply.result["node_id"] == book and reply.result["count"] == 2
    assert reply.result["releasedDialcodes"] == [codes[4], codes[3]]
    assert reply.result["reservedDialcodes"] == {codes[0]: 0, codes[1]: 1, codes[2]: 2, codes[5]: 5}
    content = await world.read(book)
    assert content["reservedDialcodes"] == reply.result["reservedDialcodes"]
    assert content["versionKey"] == reply.result["versionKey"]

    reply = await world.release(book)   # no count: every unused code
    assert reply.status == 200
    assert reply.result["releasedDialcodes"] == [codes[2], codes[0]]
    assert reply.result["reservedDialcodes"] == {codes[1]: 1, codes[5]: 5}

    await expect(await world.release(book), 400, "ERR_ALL_DIALCODES_UTILIZED",
                 "Error! All Reserved DIAL Codes are Utilized.")

    # Top-up after a release continues after the highest index still reserved.
    reply = await world.reserve(book, 4)
    assert sorted(reply.result["reservedDialcodes"].values()) == [1, 5, 6, 7]

    # Once nothing is linked any more, everything goes and the map becomes null.
    assert (await world.link([book, section], [])).status == 200
    reply = await world.release(book)
    assert reply.status == 200 and reply.result["count"] == 4
    assert reply.result["reservedDialcodes"] is None
    assert (await world.read(book))["reservedDialcodes"] is None
    await expect(await world.release(book), 400, "ERR_CONTENT_MISSING_RESERVED_DIAL_CODES")


async def test_count_limited_release(world):
    book, _, _, codes = await textbook_tree(world, 5)
    reply = await world.release(book, 1)
    assert reply.result["releasedDialcodes"] == [codes[4]] and reply.result["count"] == 1
    reply = await world.release(book, 4)
    assert reply.result["releasedDialcodes"] == [codes[3], codes[2], codes[1], codes[0]]
    assert reply.result["reservedDialcodes"] is None


async def test_rule_1_missing_content_wins_over_bad_count(world):
    await expect(await world.release("do_missing", "x"), 404, "ERR_CONTENT_NOT_FOUND",
                 "Content not found with id: do_missing")


async def test_rule_2_content_type_wins_over_channel(world):
    book = await world.content()
    unit = await world.content("TextBookUnit", parent=book)
    resource = await world.content("Resource")
    for content_id in (unit, resource):
        await expect(await world.release(content_id, channel=OTHER_CHANNEL), 400, "ERR_CONTENT_CONTENTTYPE",
                     "Invalid Content Type.")


async def test_rule_3_channel_wins_over_missing_reservations(world):
    for content_type in ("TextBook", "Collection", "LessonPlan", "Course"):
        content = await world.content(content_type)
        await expect(await world.release(content, channel=OTHER_CHANNEL), 400, "ERR_CONTENT_INVALID_CHANNEL",
                     "Invalid Channel Id.")
        await expect(await world.release(content, channel=None), 400, "ERR_CONTENT_INVALID_CHANNEL")
        # With the right channel these types pass rule 2 and stop at rule 4.
        await expect(await world.release(content), 400, "ERR_CONTENT_MISSING_RESERVED_DIAL_CODES")


async def test_rule_4_missing_reservations_wins_over_bad_count(world):
    book = await world.content()
    await expect(await world.release(book, "x"), 400, "ERR_CONTENT_MISSING_RESERVED_DIAL_CODES")


async def test_rule_5_all_utilized_wins_over_bad_count(world):
    book, chapter, _, codes = await textbook_tree(world, 2)
    await world.link([chapter], codes)
    await expect(await world.release(book, "x"), 400, "ERR_ALL_DIALCODES_UTILIZED")
    await expect(await world.release(book, 99), 400, "ERR_ALL_DIALCODES_UTILIZED")


async def test_rule_6_invalid_count(world):
    book, _, _, _ = await textbook_tree(world, 3)
    for count in ("2", 0, -3, 1.5, True):
        await expect(await world.release(book, count), 400, "ERR_INVALID_COUNT", "Invalid dialcode count.")
    assert len((await world.read(book))["reservedDialcodes"]) == 3


async def test_rule_6_count_above_unused(world):
    book, chapter, _, codes = await textbook_tree(world, 3)
    await world.link([chapter], [codes[0]])
    await expect(await world.release(book, 3), 400, "ERR_COUNT_GREATER_THAN_RESERVED_DIAL_CODES")
    assert (await world.release(book, 2)).result["releasedDialcodes"] == [codes[2], codes[1]]


async def test_release_without_any_body(world):
    book, _, _, codes = await textbook_tree(world, 2)
    resp = await world.client.patch(f"/content/v3/dialcode/release/{book}", headers=world.headers())
    assert resp.status == 200
    assert (await resp.json())["result"]["releasedDialcodes"] == [codes[1], codes[0]]

"""Truly simultaneous requests: nothing lost, nothing issued twice, on either backend."""

from __future__ import annotations

import asyncio

from dialcode_world import PUBLISHER, World
from sqlalchemy import func, select

from core.keys import DB
from plugins.dialcode import generator
from plugins.dialcode.models import Counter, DialCode, Reservation


async def codes_in_db(world: World) -> list[tuple[int, str, str]]:
    async with world.client.app[DB].session() as session:
        rows = await session.execute(
            select(DialCode.dialcode_index, DialCode.identifier, DialCode.batchcode).order_by(DialCode.dialcode_index)
        )
        return [tuple(row) for row in rows]


async def test_concurrent_reserves_of_one_count_reserve_once(world):
    book = await world.content()
    replies = await asyncio.gather(*(world.reserve(book, 10) for _ in range(6)))
    assert sorted(r.status for r in replies) == [200] + [400] * 5
    winner = next(r for r in replies if r.status == 200).result["reservedDialcodes"]
    for loser in (r for r in replies if r.status == 400):
        assert loser.err == "ERR_INVALID_COUNT" and loser.result["reservedDialcodes"] == winner
    assert sorted(winner.values()) == list(range(10))
    assert (await world.read(book))["reservedDialcodes"] == winner
    issued = await codes_in_db(world)
    assert [code for _, code, _ in issued] == [code for _, code in generator.next_codes(0, 10)]


async def test_concurrent_top_ups_lose_and_duplicate_nothing(world):
    book = await world.content()
    counts = [5, 10, 15, 20, 25, 30]
    replies = await asyncio.gather(*(world.reserve(book, count) for count in counts))
    assert all(r.status in (200, 400) for r in replies)
    final = (await world.read(book))["reservedDialcodes"]
    assert len(final) == 30 and sorted(final.values()) == list(range(30))
    # Every code generated for this book is in its map: none lost to a lost update.
    issued = await codes_in_db(world)
    assert sorted(code for _, code, batch in issued if batch == book) == sorted(final)
    # Every successful reply saw a consistent prefix of the final map.
    for reply in replies:
        if reply.status == 200:
            seen = reply.result["reservedDialcodes"]
            assert all(final[code] == index for code, index in seen.items())


async def test_concurrent_generates_on_several_workers_issue_each_code_once(world):
    second_worker = await world.kit.client(["dialcode"])  # another app on the same database
    clients = [world.client, second_worker]

    async def generate(i: int) -> list[str]:
        resp = await clients[i % 2].post(
            "/dialcode/v3/generate",
            json={"request": {"dialcodes": {"count": 40, "publisher": PUBLISHER}}},
            headers=world.headers(),
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["result"]["dialcodes"]

    batches = await asyncio.gather(*(generate(i) for i in range(8)))
    issued = [code for batch in batches for code in batch]
    assert len(issued) == 320 and len(set(issued)) == 320
    # No gap and no reuse: together they are exactly the first 320 codes of the sequence.
    expected = generator.next_codes(0, 320)
    assert sorted(issued) == sorted(code for _, code in expected)
    assert [(index, code) for index, code, _ in await codes_in_db(world)] == expected
    async with world.client.app[DB].session() as session:
        assert await session.scalar(select(Counter.value)) == expected[-1][0]


async def test_reserves_on_many_textbooks_and_generates_together(world):
    books = [await world.content(name=f"Book {i}") for i in range(4)]
    calls = [world.reserve(book, 15) for book in books] + [world.generate(15) for _ in range(3)]
    replies = await asyncio.gather(*calls)
    assert all(r.status == 200 for r in replies), [r.body for r in replies if r.status != 200]
    issued = await codes_in_db(world)
    assert len(issued) == 105 and len({code for _, code, _ in issued}) == 105
    assert [code for _, code, _ in issued] == [code for _, code in generator.next_codes(0, 105)]
    async with world.client.app[DB].session() as session:
        assert await session.scalar(select(func.count()).select_from(Reservation)) == 60


async def test_link_racing_release_never_leaves_a_linked_code_unreserved(world):
    for _ in range(3):
        book = await world.content()
        unit = await world.content("TextBookUnit", parent=book)
        codes = list((await world.reserve(book, 4)).result["reservedDialcodes"])
        link, release = await asyncio.gather(world.link([unit], codes[2:]), world.release(book))
        content = await world.read(book)
        linked = (await world.read(unit))["dialcodes"]
        reserved = content["reservedDialcodes"] or {}
        assert set(linked) <= set(reserved)
        if link.status == 200:  # the link went first: release kept the linked codes
            assert linked == codes[2:] and set(release.result["releasedDialcodes"]) == set(codes[:2])
        else:  # the release went first: every code was free, the link found them gone
            assert link.err == "ERR_DIALCODE_LINK_REQUEST" and release.result["count"] == 4 and linked == []

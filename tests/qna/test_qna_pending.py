"""The coach's pending list: entry shape, pagination links, alias lookup, tag filter, query count."""

from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import event
from yarl import URL

from core.keys import DB

ENTRY_KEYS = {"id", "Q1", "Q2", "alias", "created_at", "tag", "accepted_order", "expiration"}


@contextmanager
def counting_queries(app):
    statements: list[str] = []
    engine = app[DB].engine.sync_engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_entry_shape_and_accepted_order(world):
    maths = await world.tag("Maths")
    qna = await world.ask("Integrals?", Q2="By parts", tags=["maths"])
    status, page = await world.pending()
    assert status == 200
    assert page["count"] == 1 and page["next"] is None and page["previous"] is None
    assert page["results"] == [
        {
            "id": qna["id"], "Q1": "Integrals?", "Q2": "By parts", "alias": qna["alias"],
            "created_at": qna["created_at"], "tag": [maths], "accepted_order": False, "expiration": None,
        }
    ]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", page["results"][0]["created_at"])

    status, order = await world.lock(world.tutor, qna["alias"])
    assert status == 201
    other_coach = await world.coach()
    status, page = await world.pending(other_coach)
    entry = page["results"][0]
    assert entry["accepted_order"] is True  # whoever holds it
    assert entry["expiration"] == order["expiration"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", entry["expiration"])


async def test_pagination_links_are_absolute_and_page_size_is_capped(world):
    asked = [await world.ask(f"Question {i}") for i in range(5)]
    newest_first = [q["alias"] for q in reversed(asked)]

    status, page = await world.pending(page_size=2)
    assert status == 200 and page["count"] == 5 and page["previous"] is None
    assert [e["alias"] for e in page["results"]] == newest_first[:2]
    nxt = URL(page["next"])
    assert nxt.is_absolute() and nxt.path == "/qna/pending/"
    assert nxt.query["page"] == "2" and nxt.query["page_size"] == "2"

    resp = await world.client.get(nxt.path_qs, headers=world.tutor.headers)
    page2 = await resp.json()
    assert [e["alias"] for e in page2["results"]] == newest_first[2:4]
    assert URL(page2["previous"]).query["page"] == "1" and URL(page2["next"]).query["page"] == "3"

    status, page3 = await world.pending(page=3, page_size=2)
    assert [e["alias"] for e in page3["results"]] == newest_first[4:]
    assert page3["next"] is None and URL(page3["previous"]).query["page"] == "2"

    # Over the maximum is capped (not rejected), and the links say so.
    status, big = await world.pending(page_size=1000)
    assert status == 200 and len(big["results"]) == 5 and big["next"] is None

    # Bad numbers are 400; a page past the last is 404; an empty first page is fine.
    for params in ({"page": 0}, {"page": "x"}, {"page_size": 0}, {"page_size": "-3"}):
        status, body = await world.pending(**params)
        assert status == 400 and body["code"] == "invalid", params
    status, body = await world.pending(page=4, page_size=2)
    assert status == 404 and body == {"detail": "Invalid page.", "code": "invalid_page"}
    status, page = await world.pending(tag="nothing-tagged")
    assert status == 200 and page == {"count": 0, "next": None, "previous": None, "results": []}


async def test_configured_page_sizes(kit):
    from qna_world import make_world

    world = await make_world(kit, qna={"page_size": 2, "max_page_size": 3})
    for i in range(5):
        await world.ask(f"Q{i}")
    status, page = await world.pending()
    assert len(page["results"]) == 2 and URL(page["next"]).query["page_size"] == "2"
    status, page = await world.pending(page_size=50)
    assert len(page["results"]) == 3 and URL(page["next"]).query["page_size"] == "3"


async def test_alias_lookup_single_entry_and_404s(world):
    first = await world.ask("First")
    await world.ask("Second")
    status, entry = await world.pending(alias=first["alias"])
    assert status == 200 and set(entry) == ENTRY_KEYS
    assert entry["id"] == first["id"] and entry["accepted_order"] is False

    status, body = await world.pending(alias="does-not-exist")
    assert status == 404 and body["code"] == "not_found"

    assert (await world.lock(world.tutor, first["alias"]))[0] == 201
    assert (await world.answer(world.tutor, first["id"]))[0] == 202
    status, body = await world.pending(alias=first["alias"])
    assert status == 404
    status, page = await world.pending()
    assert [e["Q1"] for e in page["results"]] == ["Second"]  # answered ones leave the list


async def test_tag_filter(world):
    await world.tag("Maths")
    await world.tag("Art")
    both = await world.ask("Both", tags=["maths", "art"])
    maths = await world.ask("Maths only", tags=["maths"])
    await world.ask("Untagged")
    status, page = await world.pending(tag="maths")
    assert page["count"] == 2 and [e["id"] for e in page["results"]] == [maths["id"], both["id"]]
    status, page = await world.pending(tag="art")
    assert [e["id"] for e in page["results"]] == [both["id"]]
    assert [t["alias"] for t in page["results"][0]["tag"]] == ["art", "maths"]  # all its tags, not just the filter
    status, page = await world.pending(tag="maths", page_size=1)
    assert URL(page["next"]).query["tag"] == "maths"  # filters survive in the links


async def test_pending_list_query_count_does_not_grow_with_the_page(world):
    for name in ("A", "B", "C"):
        await world.tag(name)

    async def queries_for_page() -> int:
        with counting_queries(world.client.app) as statements:
            status, page = await world.pending(page_size=100)
        assert status == 200
        return len([s for s in statements if "qna_" in s]), page

    for i in range(2):
        await world.ask(f"Q{i}", tags=["a", "b"])
    small, _ = await queries_for_page()
    coaches = [await world.coach() for _ in range(3)]
    for i in range(12):
        qna = await world.ask(f"More {i}", tags=["a", "b", "c"])
        if i < 3:
            assert (await world.lock(coaches[i], qna["alias"]))[0] == 201
    large, page = await queries_for_page()
    assert page["count"] == 14 and sum(e["accepted_order"] for e in page["results"]) == 3
    assert large == small <= 4  # count, page, tags of the page, live orders of the page


def test_config_is_validated_at_start_up():
    import pytest

    from core.app import create_app
    from core.errors import ConfigError
    from core.testing import settings_for_tests

    bad = {"page_size": 200, "max_page_size": 100, "order_hours": 0, "max_active_orders": 0, "surprise": 1}
    with pytest.raises(ConfigError) as info:
        create_app(settings_for_tests("sqlite+aiosqlite:///:memory:", ["qna"], qna=bad))
    text = str(info.value)
    for key in ("qna.page_size", "qna.order_hours", "qna.max_active_orders", "qna.surprise"):
        assert key in text, text
    app = create_app(settings_for_tests("sqlite+aiosqlite:///:memory:", ["qna"], qna={"prefix": "/ask"}))
    assert any(r.resource.canonical == "/ask/pending/" for r in app.router.routes())

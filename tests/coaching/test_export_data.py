"""What the export returns: the window on each axis, order, deleted items, children, streaming."""

from __future__ import annotations

import datetime as dt

import pytest
from coaching_world import EXPORT, POINTS, SESSIONS, TODOS, at, insert_sessions, make_world

from core.jsonutil import loads, utc_iso


@pytest.fixture
async def world(kit):
    return await make_world(kit, ratelimit={"enabled": False})


@pytest.mark.parametrize("axis", ["meetingDate", "createdAt"])
async def test_window_edges_on_each_axis(world, axis):
    column = "meeting_date" if axis == "meetingDate" else "created_at"
    other = "created_at" if axis == "meetingDate" else "meeting_date"
    inside = ["2026-01-01 00:00:00", "2026-01-01 00:00:00.001", "2026-01-15 12:00:00",
              "2026-01-31 23:59:59.998", "2026-01-31 23:59:59.999"]
    outside = ["2025-12-31 23:59:59.999", "2026-02-01 00:00:00", "2026-01-31 23:59:59.999500"]
    specs = [{column: at(text), other: at("2026-06-01 00:00:00")} for text in inside + outside]
    # The other axis falls inside the window for these two: it must not matter.
    specs += [{column: at("2025-06-01 00:00:00"), other: at("2026-01-10 00:00:00")},
              {column: at("2026-03-01 00:00:00"), other: at("2026-01-10 00:00:00")}]
    await insert_sessions(world, specs)

    exported = await world.export("2026-01-01", "2026-01-31", axis)
    assert [s[axis] for s in exported] == [
        "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.001Z", "2026-01-15T12:00:00.000Z",
        "2026-01-31T23:59:59.998Z", "2026-01-31T23:59:59.999Z",
    ]
    # A one-day window holds exactly that day.
    assert [s[axis] for s in await world.export("2026-02-01", "2026-02-01", axis)] == ["2026-02-01T00:00:00.000Z"]


async def test_sorted_by_date_then_id_and_deleted_sessions_flagged(world):
    same = at("2026-01-05 10:00:00")
    rows = await insert_sessions(world, [
        {"meeting_date": same, "id": "c" * 32},
        {"meeting_date": same, "id": "a" * 32, "is_deleted": True},
        {"meeting_date": at("2026-01-04 10:00:00"), "id": "f" * 32},
        {"meeting_date": same, "id": "b" * 32},
    ])
    exported = await world.export("2026-01-01", "2026-01-31")
    assert [s["_id"] for s in exported] == ["f" * 32, "a" * 32, "b" * 32, "c" * 32]
    assert [s["isDeleted"] for s in exported] == [False, True, False, False]
    assert len(rows) == 4


async def test_export_carries_activity_points_and_todos_including_deleted(world):
    client, coach = world.client, world.coach
    s = await world.session(coachingFormName="Weekly", meetingFormat="video")
    sid = s["_id"]
    other = await world.session(coachingFormName="Other")
    kept = await world.point([sid, other["_id"]], ticketId="T-7", rubricName="Tone", criteriaName="Empathy",
                             score="3/5")
    gone = await world.point([sid], type="opportunity", classification="csat")
    await client.delete(f"{POINTS}/{gone['_id']}", headers=coach.headers)
    todo = await world.todo([sid], link="https://kb.example/a")
    dropped = await world.todo([sid], title="Obsolete")
    await client.delete(f"{TODOS}/{dropped['_id']}", headers=coach.headers)
    await client.post(f"{SESSIONS}/{sid}/share", headers=coach.headers)
    await client.post(f"{TODOS}/{todo['_id']}/complete", headers=world.agent.headers)

    exported = {e["_id"]: e for e in await world.export("2026-03-01", "2026-03-31")}
    assert set(exported) == {sid, other["_id"]}
    session = exported[sid]
    assert list(session)[:20] == [
        "_id", "coachingFormName", "coachingTemplateId", "coachingTemplateName", "meetingFormat", "formCreatorId",
        "formCreatorName", "coachName", "coachId", "agentId", "agentName", "createdAt", "updatedAt",
        "sharedWithAgent", "meetingDate", "agentConfirmed", "coachConfirmed", "coachNotes", "agentNotes", "isDeleted",
    ]
    assert session["sharedWithAgent"] is True

    points = {p["_id"]: p for p in session["coachingPoints"]}
    assert set(points) == {kept["_id"], gone["_id"]}
    assert points[gone["_id"]]["isDeleted"] is True and points[kept["_id"]]["isDeleted"] is False
    assert points[kept["_id"]]["coachingFormIds"] == [sid, other["_id"]]
    assert points[kept["_id"]]["rubricName"] == "Tone" and points[kept["_id"]]["score"] == "3/5"
    assert exported[other["_id"]]["coachingPoints"] == [points[kept["_id"]]]

    todos = {t["_id"]: t for t in session["todos"]}
    assert todos[dropped["_id"]]["isDeleted"] is True
    assert todos[todo["_id"]]["status"] == "completed" and todos[todo["_id"]]["completedAt"].endswith("Z")

    log = session["activityLog"]
    assert [e["actionType"] for e in log] == [
        "created", "point_added", "point_added", "point_deleted", "todo_added", "todo_added", "todo_deleted",
        "shared", "todo_completed",
    ]
    assert set(log[0]) == {"userId", "userEmail", "actionType", "descriptions", "timestamp", "ipAddress"}
    assert log[-1]["userId"] == world.agent.id and log[-1]["userEmail"] == world.agent.email
    assert all(e["ipAddress"] == "127.0.0.1" and e["timestamp"].endswith("Z") for e in log)


async def test_a_streamed_export_of_thousands_matches_what_was_created(kit):
    # Small chunks so the export crosses many chunk boundaries, some inside runs of equal dates.
    world = await make_world(kit, coaching={"export_chunk_size": 128}, ratelimit={"enabled": False})
    specs = []
    for n in range(2000):
        day, minute = n % 80, (n // 80) % 3  # many sessions share a timestamp
        specs.append({
            "meeting_date": at(f"2026-01-01 08:0{minute}:00") + dt.timedelta(days=day),
            "created_at": at("2025-12-01 00:00:00"),
            "is_deleted": n % 17 == 0,
        })
    rows = await insert_sessions(world, specs, points=2, todos=1, log_entries=2)
    # Outside the window: must not appear.
    await insert_sessions(world, [{"meeting_date": at("2026-03-23 00:00:00")}])

    resp = await world.client.post(
        EXPORT, json={"startDate": "2026-01-01", "endDate": "2026-03-22", "timeAxis": "meetingDate"}, headers=world.api
    )
    assert resp.status == 200
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    exported = loads(await resp.read())

    expected = sorted(rows, key=lambda r: (r["meeting_date"], r["id"]))
    assert [e["_id"] for e in exported] == [r["id"] for r in expected]
    for got, want in zip(exported, expected, strict=True):
        assert got["meetingDate"] == utc_iso(want["meeting_date"])
        assert got["isDeleted"] is want["is_deleted"]
        assert got["coachNotes"] == want["coach_notes"] and got["coachingFormName"] == want["coaching_form_name"]
        assert len(got["coachingPoints"]) == 2 and sorted(p["isDeleted"] for p in got["coachingPoints"]) == [False, True]
        assert all(p["coachingFormIds"] == [got["_id"]] for p in got["coachingPoints"])
        assert len(got["todos"]) == 1 and got["todos"][0]["coachingFormIds"] == [got["_id"]]
        assert [e["descriptions"] for e in got["activityLog"]] == [["entry 0"], ["entry 1"]]


async def test_empty_window_is_an_empty_array(world):
    await insert_sessions(world, [{"meeting_date": at("2026-05-01 00:00:00")}])
    resp = await world.client.post(
        EXPORT, json={"startDate": "2026-01-01", "endDate": "2026-01-02", "timeAxis": "meetingDate"}, headers=world.api
    )
    assert resp.status == 200 and await resp.read() == b"[]"


async def test_queries_grow_with_chunks_not_sessions(kit):
    from sqlalchemy import event

    from core.keys import DB

    world = await make_world(kit, coaching={"export_chunk_size": 50}, ratelimit={"enabled": False})
    await insert_sessions(world, [{"meeting_date": at("2026-01-02 00:00:00")} for _ in range(200)],
                          points=1, todos=1, log_entries=1)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "coaching" in statement:
            statements.append(statement)

    engine = world.client.app[DB].engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        exported = await world.export("2026-01-01", "2026-01-31")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(exported) == 200
    if kit.database_url.startswith("sqlite"):
        # 4 full chunks + 1 empty probe: one session query each, five IN queries per non-empty chunk.
        assert len(statements) == 5 + 4 * 5
    else:
        # PostgreSQL builds each chunk's JSON, children included, in one statement.
        assert len(statements) == 5


async def test_a_failure_after_the_first_chunk_breaks_the_body_instead_of_truncating_it(
    kit, monkeypatch
):
    import aiohttp

    from plugins.coaching import export

    world = await make_world(kit, coaching={"export_chunk_size": 10}, ratelimit={"enabled": False})
    await insert_sessions(world, [{"meeting_date": at("2026-01-02 00:00:00")} for _ in range(30)])
    real, calls = export._encoded, []

    async def failing(db, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return await real(db, rows)

    monkeypatch.setattr(export, "_encoded", failing)
    resp = await world.client.post(
        EXPORT, json={"startDate": "2026-01-01", "endDate": "2026-01-31", "timeAxis": "meetingDate"}, headers=world.api
    )
    assert resp.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_a_failure_before_the_first_byte_is_a_clean_500(kit, monkeypatch):
    from plugins.coaching import export

    world = await make_world(kit, ratelimit={"enabled": False})

    async def failing(db, rows):
        raise RuntimeError("database went away")

    monkeypatch.setattr(export, "_encoded", failing)
    resp = await world.client.post(
        EXPORT, json={"startDate": "2026-01-01", "endDate": "2026-01-31", "timeAxis": "meetingDate"}, headers=world.api
    )
    assert resp.status == 500 and await resp.json() == {"error": "Internal server error."}

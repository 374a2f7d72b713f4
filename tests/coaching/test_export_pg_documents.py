"""PostgreSQL builds the export's JSON itself (export_pg): it must match the Python path byte for byte."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from coaching_world import EXPORT, POINTS, TODOS, at, insert_sessions, make_world
from sqlalchemy import insert

from core.jsonutil import loads
from core.keys import DB
from plugins.coaching.models import ActivityLogEntry, CoachingPoint, CoachingPointSession, Todo, TodoSession, new_id

# Characters whose JSON escaping differs between encoders if anything does.
AWKWARD = 'quote " backslash \\ slash / tab \t newline \n ctl \x01\x1f del \x7f é 😀 \u2028 <>&'


async def _export(world, axis: str, start: str = "2026-01-01", end: str = "2026-03-31") -> bytes:
    resp = await world.client.post(
        EXPORT, json={"startDate": start, "endDate": end, "timeAxis": axis}, headers=world.api
    )
    assert resp.status == 200, await resp.text()
    return await resp.read()


async def _realistic_data(world) -> list[dict]:
    """A few hundred sessions: shared points and to-dos (link positions out of id order),
    deleted items, nulls, awkward text, odd JSON in descriptions, sub-millisecond dates."""
    rng = random.Random(11)
    base = at("2026-01-01 00:00:00")
    specs = []
    for n in range(300):
        meeting = base + dt.timedelta(seconds=rng.randrange(0, 85 * 86400), microseconds=rng.choice([0, 999, 999999, 123456]))
        if n % 40 == 0:
            meeting = at("2026-02-02 09:30:00")  # runs of equal dates, ordered by _id
        specs.append({"meeting_date": meeting, "created_at": meeting - dt.timedelta(days=n % 4, microseconds=n),
                      "is_deleted": n % 13 == 0})
    rows = await insert_sessions(world, specs)
    ids = [row["id"] for row in rows]

    points, point_links, todos, todo_links, log = [], [], [], [], []
    for n in range(260):
        owners = rng.sample(ids, rng.choice([1, 1, 2, 3]))  # positions follow this random order, not id order
        created = base + dt.timedelta(days=rng.randrange(0, 80), microseconds=rng.randrange(0, 10**6))
        pid = new_id()
        points.append({
            "id": pid, "type": rng.choice(["strength", "opportunity", "n/a"]),
            "classification": rng.choice(["general", "qa", "csat", "productivity"]),
            "ticket_id": f"T-{n}", "subject": AWKWARD if n % 7 == 0 else f"Subject {n}",
            "rubric_name": "", "criteria_name": "Empathy", "kpi_name": "", "score": rng.choice(["", "3/5", "4", "0.5"]),
            "agent_notes": "", "coach_notes": "x" * (n % 5), "creator_id": world.coach.id,
            "created_at": created if n % 9 else base, "updated_at": created, "is_deleted": n % 6 == 0,
        })
        point_links += [{"point_id": pid, "session_id": sid, "position": k} for k, sid in enumerate(owners)]
    for n in range(180):
        owners = rng.sample(ids, rng.choice([1, 2]))
        created = base + dt.timedelta(days=rng.randrange(0, 80), microseconds=rng.randrange(0, 10**6))
        tid = new_id()
        todos.append({
            "id": tid, "action_string": "read", "completed_at": created + dt.timedelta(hours=3) if n % 3 == 0 else None,
            "created_at": created, "creator_id": world.coach.id, "creator_name": "Cora \"Coach\"",
            "description": AWKWARD if n % 5 == 0 else "", "link": "https://kb.example/a?b=1&c=2",
            "status": "completed" if n % 3 == 0 else "open", "title": f"To-do {n}", "type": "reading",
            "updated_at": created, "is_deleted": n % 8 == 0,
        })
        todo_links += [{"todo_id": tid, "session_id": sid, "position": k} for k, sid in enumerate(owners)]
    descriptions = [["created"], [], None, [AWKWARD, "second"], ["ünïcödé", 'say "hi"'], ["a, b", "c"],
                    ['x", "y', "z"], ["é"], ["plain", "ascii", "list"]]
    for n, sid in enumerate(ids):
        for k in range(n % 4):
            log.append({
                "session_id": sid, "user_id": world.coach.id, "user_email": world.coach.email,
                "action_type": "updated", "descriptions": descriptions[(n + k) % len(descriptions)],
                "timestamp": base + dt.timedelta(minutes=n, microseconds=rng.randrange(0, 10**6)),
                "ip_address": None if (n + k) % 5 == 0 else "10.0.0.1",
            })
    async with world.client.app[DB].transaction() as db:
        for model, values in ((CoachingPoint, points), (CoachingPointSession, point_links), (Todo, todos),
                              (TodoSession, todo_links), (ActivityLogEntry, log)):
            await db.execute(insert(model), values)
    return rows


@pytest.mark.parametrize("axis", ["meetingDate", "createdAt"])
async def test_database_built_export_is_byte_identical_to_the_python_path(kit, monkeypatch, axis):
    if kit.database_url.startswith("sqlite"):
        pytest.skip("the database-built export is PostgreSQL's")
    from plugins.coaching import export

    world = await make_world(kit, coaching={"export_chunk_size": 37}, ratelimit={"enabled": False})
    rows = await _realistic_data(world)
    # And data written through the API: service-made descriptions, shared point, completed to-do.
    session = await world.session(coachingFormName=AWKWARD, meetingDate="2026-03-10T15:00:00.123456Z")
    shared = await world.point([session["_id"], rows[5]["id"]], ticketId="T-api", score="3/5")
    await world.client.patch(f"{POINTS}/{shared['_id']}", json={"coachNotes": "changed"}, headers=world.coach.headers)
    todo = await world.todo([rows[7]["id"], session["_id"]])
    await world.client.post(f"{TODOS}/{todo['_id']}/complete", headers=world.coach.headers)
    await world.client.delete(f"{TODOS}/{todo['_id']}", headers=world.coach.headers)

    from_database = await _export(world, axis)
    monkeypatch.setattr(export, "_on_postgresql", lambda db: False)
    from_python = await _export(world, axis)

    assert from_database == from_python
    # And it is the data set, not two empty arrays agreeing.
    exported = loads(from_database)
    assert len(exported) > 250
    assert any(len(s["coachingPoints"]) > 1 for s in exported)
    assert any(len(p["coachingFormIds"]) > 1 for s in exported for p in s["coachingPoints"])
    assert any(t["completedAt"] is None for s in exported for t in s["todos"])
    assert any(e["ipAddress"] is None for s in exported for e in s["activityLog"])
    assert any(s["isDeleted"] for s in exported)
    assert any(AWKWARD in e["descriptions"] for s in exported for e in s["activityLog"])


async def test_database_built_export_of_an_empty_window_and_a_single_chunk(kit, monkeypatch):
    if kit.database_url.startswith("sqlite"):
        pytest.skip("the database-built export is PostgreSQL's")
    from plugins.coaching import export

    world = await make_world(kit, ratelimit={"enabled": False})
    await insert_sessions(world, [{"meeting_date": at("2026-01-05 10:00:00")}] * 3, points=2, todos=1, log_entries=2)
    assert await _export(world, "meetingDate", "2025-01-01", "2025-01-02") == b"[]"
    from_database = await _export(world, "meetingDate")
    monkeypatch.setattr(export, "_on_postgresql", lambda db: False)
    assert from_database == await _export(world, "meetingDate")
    assert len(loads(from_database)) == 3

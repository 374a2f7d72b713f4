"""Coaching points and to-dos: many-to-many with sessions, ownership, activity entries."""

from __future__ import annotations

import asyncio

from coaching_world import POINTS, TODOS


def _actions(session: dict) -> list[tuple[str, list[str]]]:
    return [(e["actionType"], e["descriptions"]) for e in session["activityLog"]]


async def test_point_belongs_to_several_sessions_and_logs_on_each(world):
    a = await world.session(coachingFormName="A")
    b = await world.session(coachingFormName="B")
    point = await world.point([a["_id"], b["_id"], a["_id"]], ticketId="T-1", subject="Refund", score="4",
                              coachNotes="good tone", kpiName="AHT")
    assert point["coachingFormIds"] == [a["_id"], b["_id"]]  # order kept, duplicates dropped
    assert point["type"] == "strength" and point["classification"] == "qa" and point["isDeleted"] is False
    assert point["createdAt"].endswith("Z") and point["agentNotes"] == ""
    for s in (a, b):
        body = await world.read(s["_id"])
        assert [p["_id"] for p in body["coachingPoints"]] == [point["_id"]]
        assert body["coachingPoints"][0]["coachingFormIds"] == [a["_id"], b["_id"]]
        assert _actions(body)[-1] == ("point_added", ["coaching point added: strength (qa)"])


async def test_point_defaults_and_validation(world):
    s = await world.session()
    resp = await world.client.post(POINTS, json={"coachingFormIds": [s["_id"]]}, headers=world.coach.headers)
    point = await resp.json()
    assert resp.status == 201 and point["type"] == "n/a" and point["classification"] == "general"
    for body, message in (
        ({}, "coachingFormIds: Missing data for required field."),
        ({"coachingFormIds": []}, "coachingFormIds: Give between 1 and 50 coaching session ids."),
        ({"coachingFormIds": [s["_id"]], "type": "weakness"}, "type: Must be one of: strength, opportunity, n/a."),
        ({"coachingFormIds": [s["_id"]], "classification": "x"},
         "classification: Must be one of: general, qa, csat, productivity."),
        ({"coachingFormIds": ["nope"]}, "Coaching session nope not found."),
    ):
        resp = await world.client.post(POINTS, json=body, headers=world.coach.headers)
        assert resp.status in (400, 404) and await resp.json() == {"error": message}, body


async def test_points_need_the_coach_of_every_session(world):
    mine = await world.shared_session()
    theirs = await world.session(coach=world.other_coach, agent=world.other_agent)
    resp = await world.client.post(POINTS, json={"coachingFormIds": [mine["_id"], theirs["_id"]]},
                                   headers=world.coach.headers)
    assert resp.status == 404 and await resp.json() == {"error": f"Coaching session {theirs['_id']} not found."}
    resp = await world.client.post(POINTS, json={"coachingFormIds": [mine["_id"]]}, headers=world.agent.headers)
    assert resp.status == 403
    assert (await world.read(mine["_id"]))["coachingPoints"] == []

    point = await world.point([mine["_id"]])
    url = f"{POINTS}/{point['_id']}"
    for method, body in (("PATCH", {"score": "1"}), ("DELETE", None)):
        resp = await world.client.request(method, url, json=body, headers=world.other_coach.headers)
        assert resp.status == 404 and await resp.json() == {"error": "Coaching point not found."}
    # The agent sees it through the shared session and writes agentNotes, nothing else.
    resp = await world.client.patch(url, json={"agentNotes": "noted"}, headers=world.agent.headers)
    assert resp.status == 200 and (await resp.json())["agentNotes"] == "noted"
    resp = await world.client.patch(url, json={"score": "5"}, headers=world.agent.headers)
    assert resp.status == 403 and await resp.json() == {"error": "Only the coach of its sessions can change score."}
    resp = await world.client.patch(url, json={"agentNotes": "coach writes"}, headers=world.coach.headers)
    assert resp.status == 403
    resp = await world.client.delete(url, headers=world.agent.headers)
    assert resp.status == 403


async def test_point_patch_move_and_delete_log_entries(world):
    a = await world.session(coachingFormName="A")
    b = await world.session(coachingFormName="B")
    point = await world.point([a["_id"]], score="2")
    url = f"{POINTS}/{point['_id']}"

    resp = await world.client.patch(url, json={"score": "3", "coachNotes": "better"}, headers=world.coach.headers)
    assert resp.status == 200
    assert _actions(await world.read(a["_id"]))[-1] == (
        "point_updated", ['score changed from "2" to "3"', "coachNotes changed"]
    )
    resp = await world.client.patch(url, json={"coachingFormIds": [b["_id"]]}, headers=world.coach.headers)
    assert (await resp.json())["coachingFormIds"] == [b["_id"]]
    body_a, body_b = await world.read(a["_id"]), await world.read(b["_id"])
    assert body_a["coachingPoints"] == [] and [p["_id"] for p in body_b["coachingPoints"]] == [point["_id"]]
    assert _actions(body_a)[-1] == ("point_removed", ["coaching point removed from this session"])
    assert _actions(body_b)[-1] == ("point_added", ["coaching point added: strength (qa)"])

    resp = await world.client.delete(url, headers=world.coach.headers)
    assert resp.status == 204
    assert (await world.client.delete(url, headers=world.coach.headers)).status == 404
    body_b = await world.read(b["_id"])
    assert body_b["coachingPoints"] == []
    assert _actions(body_b)[-1] == ("point_deleted", ["coaching point deleted"])


async def test_todo_lifecycle_and_agent_completion(world):
    s = await world.shared_session()
    todo = await world.todo([s["_id"]], description="Chapter 3", link="https://kb.example/refunds", type="reading")
    assert todo["status"] == "open" and todo["completedAt"] is None
    assert todo["creatorId"] == world.coach.id and todo["creatorName"] == "Cora Coach"
    url = f"{TODOS}/{todo['_id']}"

    resp = await world.client.patch(url, json={"title": "x"}, headers=world.agent.headers)
    assert resp.status == 403
    world.kit.clock.advance(hours=2)
    resp = await world.client.post(url + "/complete", headers=world.agent.headers)
    done = await resp.json()
    assert resp.status == 200 and done["status"] == "completed" and done["completedAt"].endswith("Z")
    again = await (await world.client.post(url + "/complete", headers=world.agent.headers)).json()
    assert again["completedAt"] == done["completedAt"]  # already done: nothing changes

    resp = await world.client.patch(url, json={"status": "open", "title": "Re-read"}, headers=world.coach.headers)
    reopened = await resp.json()
    assert reopened["status"] == "open" and reopened["completedAt"] is None and reopened["title"] == "Re-read"

    log = await world.read(s["_id"])
    assert _actions(log)[-3:] == [
        ("todo_added", ['to-do added: "Read the refund policy"']),
        ("todo_completed", ["to-do completed"]),
        ("todo_reopened", ["to-do reopened", 'title changed from "Read the refund policy" to "Re-read"']),
    ]
    assert log["activityLog"][-2]["userId"] == world.agent.id

    resp = await world.client.post(url + "/complete", headers=world.other_coach.headers)
    assert resp.status == 404 and await resp.json() == {"error": "To-do not found."}
    resp = await world.client.delete(url, headers=world.coach.headers)
    assert resp.status == 204
    log = await world.read(s["_id"])
    assert log["todos"] == [] and _actions(log)[-1] == ("todo_deleted", ["to-do deleted"])


async def test_todo_validation(world):
    s = await world.session()
    resp = await world.client.post(TODOS, json={"coachingFormIds": [s["_id"]]}, headers=world.coach.headers)
    assert resp.status == 400 and await resp.json() == {"error": "title: Missing data for required field."}
    resp = await world.client.post(TODOS, json={"coachingFormIds": [s["_id"]], "title": "t", "status": "completed"},
                                   headers=world.coach.headers)
    assert resp.status == 400 and await resp.json() == {"error": "status: Unknown field."}


async def test_simultaneous_completions_log_once(world):
    s = await world.shared_session()
    todo = await world.todo([s["_id"]])
    url = f"{TODOS}/{todo['_id']}/complete"
    users = [world.agent, world.coach] * 3
    responses = await asyncio.gather(*(world.client.post(url, headers=u.headers) for u in users))
    assert {r.status for r in responses} == {200}
    completed = [e for e in (await world.read(s["_id"]))["activityLog"] if e["actionType"] == "todo_completed"]
    assert len(completed) == 1


async def test_members_of_a_deleted_session_are_not_reachable_through_it(world):
    s = await world.session()
    point = await world.point([s["_id"]])
    await world.client.delete(f"/api/v1/coaching/sessions/{s['_id']}", headers=world.coach.headers)
    resp = await world.client.patch(f"{POINTS}/{point['_id']}", json={"score": "1"}, headers=world.coach.headers)
    assert resp.status == 404

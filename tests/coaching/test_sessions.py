"""Management of coaching sessions: roles, visibility, ownership and the activity log."""

from __future__ import annotations

import asyncio

from coaching_world import SESSIONS

from core.keys import DB


async def test_coach_creates_a_session_with_names_and_a_created_entry(world):
    created = await world.session(
        coachingFormName="Q1 review", meetingFormat="video", coachNotes="Be kind", coachingTemplateId="t-9"
    )
    assert created["coachId"] == created["formCreatorId"] == world.coach.id
    assert created["coachName"] == created["formCreatorName"] == "Cora Coach"
    assert created["agentId"] == world.agent.id and created["agentName"] == "Abe Agent"
    assert created["coachingFormName"] == "Q1 review" and created["coachingTemplateId"] == "t-9"
    assert created["meetingDate"] == "2026-03-10T15:00:00.000Z"
    assert created["createdAt"].endswith("Z") and created["createdAt"] == created["updatedAt"]
    assert created["sharedWithAgent"] is False and created["isDeleted"] is False
    assert created["coachConfirmed"] is False and created["agentConfirmed"] is False
    assert created["coachingPoints"] == [] and created["todos"] == []
    [entry] = created["activityLog"]
    assert entry["userId"] == world.coach.id and entry["userEmail"] == world.coach.email
    assert entry["actionType"] == "created" and "coaching session created" in entry["descriptions"]
    assert "ipAddress" not in entry  # only admins see addresses in the management API


async def test_create_session_validation_and_permission(world):
    client = world.client
    resp = await client.post(SESSIONS, json={"agentId": "nobody", "meetingDate": "2026-03-10T15:00:00Z"},
                             headers=world.coach.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "agentId does not name an existing user."}

    resp = await client.post(SESSIONS, json={"meetingDate": "2026-03-10T15:00:00Z"}, headers=world.coach.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "agentId: Missing data for required field."}

    resp = await client.post(SESSIONS, json={"agentId": world.agent.id, "meetingDate": "tuesday"},
                             headers=world.coach.headers)
    assert resp.status == 400 and "meetingDate" in (await resp.json())["error"]

    resp = await client.post(SESSIONS, json=[1], headers=world.coach.headers)
    assert resp.status == 400 and await resp.json() == {"error": "Request body must be a JSON object."}

    # An agent (student) is no coach; nobody signed in is nobody.
    body = {"agentId": world.agent.id, "meetingDate": "2026-03-10T15:00:00Z"}
    resp = await client.post(SESSIONS, json=body, headers=world.agent.headers)
    assert resp.status == 403 and "error" in await resp.json()
    resp = await client.post(SESSIONS, json=body)
    assert resp.status == 401 and "error" in await resp.json()
    async with client.app[DB].session() as db:
        from sqlalchemy import func, select

        from plugins.coaching.models import CoachingSession

        assert await db.scalar(select(func.count()).select_from(CoachingSession)) == 0


async def test_visibility_agent_sees_only_shared_others_get_404(world):
    client = world.client
    private = await world.session(coachingFormName="private")
    shared = await world.shared_session(coachingFormName="shared")
    await world.session(coach=world.other_coach, agent=world.other_agent, coachingFormName="someone else's")

    async def names(user):
        resp = await client.get(SESSIONS, headers=user.headers)
        assert resp.status == 200
        body = await resp.json()
        return sorted(s["coachingFormName"] for s in body["results"]), body["total"]

    assert await names(world.coach) == (["private", "shared"], 2)
    assert await names(world.agent) == (["shared"], 1)
    assert await names(world.other_coach) == (["someone else's"], 1)
    assert await names(world.admin) == (["private", "shared", "someone else's"], 3)

    assert (await client.get(f"{SESSIONS}/{private['_id']}", headers=world.agent.headers)).status == 404
    resp = await client.get(f"{SESSIONS}/{shared['_id']}", headers=world.agent.headers)
    assert resp.status == 200 and (await resp.json())["coachingFormName"] == "shared"
    for user in (world.other_coach, world.other_agent):
        resp = await client.get(f"{SESSIONS}/{shared['_id']}", headers=user.headers)
        assert resp.status == 404 and await resp.json() == {"error": "Coaching session not found."}
    resp = await client.get(f"{SESSIONS}/{private['_id']}", headers=world.admin.headers)
    assert resp.status == 200
    assert all("ipAddress" in e for e in (await resp.json())["activityLog"])  # admins see addresses


async def test_pagination(world):
    for n in range(5):
        world.kit.clock.advance(seconds=1)
        await world.session(coachingFormName=f"s{n}")
    resp = await world.client.get(SESSIONS + "?page=2&page_size=2", headers=world.coach.headers)
    body = await resp.json()
    assert body["page"] == 2 and body["page_size"] == 2 and body["total"] == 5
    assert [s["coachingFormName"] for s in body["results"]] == ["s2", "s1"]  # newest first
    resp = await world.client.get(SESSIONS + "?page=0", headers=world.coach.headers)
    assert resp.status == 400 and "page" in (await resp.json())["error"]
    resp = await world.client.get(SESSIONS + "?page_size=101", headers=world.coach.headers)
    assert resp.status == 400


async def test_other_coach_cannot_touch_a_session(world):
    client = world.client
    s = await world.shared_session()
    url = f"{SESSIONS}/{s['_id']}"
    for method, path, body in (
        ("PATCH", url, {"coachNotes": "mine now"}),
        ("DELETE", url, None),
        ("POST", url + "/share", None),
        ("POST", url + "/confirm", None),
    ):
        resp = await client.request(method, path, json=body, headers=world.other_coach.headers)
        assert resp.status == 404, (method, path)
        assert await resp.json() == {"error": "Coaching session not found."}
    after = await world.read(s["_id"])
    assert after["coachNotes"] == "" and after["isDeleted"] is False
    assert [e["actionType"] for e in after["activityLog"]] == ["created", "shared"]


async def test_coach_patch_logs_readable_changes(world):
    s = await world.session(coachingFormName="Old", coachNotes="first")
    world.kit.clock.advance(minutes=5)
    resp = await world.client.patch(
        f"{SESSIONS}/{s['_id']}",
        json={"coachingFormName": "New", "coachNotes": "second", "meetingDate": "2026-03-11T09:30:00Z",
              "meetingFormat": ""},
        headers=world.coach.headers,
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["coachingFormName"] == "New" and body["coachNotes"] == "second"
    assert body["meetingDate"] == "2026-03-11T09:30:00.000Z" and body["updatedAt"] != body["createdAt"]
    entry = body["activityLog"][-1]
    assert entry["actionType"] == "updated" and entry["userId"] == world.coach.id
    assert sorted(entry["descriptions"]) == sorted([
        'coachingFormName changed from "Old" to "New"',
        "coachNotes changed",
        "meetingDate changed from 2026-03-10T15:00:00.000Z to 2026-03-11T09:30:00.000Z",
    ])
    # Re-sending the same values changes nothing and logs nothing.
    resp = await world.client.patch(f"{SESSIONS}/{s['_id']}", json={"coachNotes": "second"},
                                    headers=world.coach.headers)
    assert len((await resp.json())["activityLog"]) == 2
    resp = await world.client.patch(f"{SESSIONS}/{s['_id']}", json={}, headers=world.coach.headers)
    assert resp.status == 400 and await resp.json() == {"error": "Nothing to change: send at least one field."}
    resp = await world.client.patch(f"{SESSIONS}/{s['_id']}", json={"_id": "x"}, headers=world.coach.headers)
    assert resp.status == 400 and await resp.json() == {"error": "_id: Unknown field."}


async def test_coach_can_change_the_agent_to_an_existing_user(world):
    s = await world.session()
    url = f"{SESSIONS}/{s['_id']}"
    resp = await world.client.patch(url, json={"agentId": "missing"}, headers=world.coach.headers)
    assert resp.status == 400 and await resp.json() == {"error": "agentId does not name an existing user."}
    resp = await world.client.patch(url, json={"agentId": world.other_agent.id}, headers=world.coach.headers)
    body = await resp.json()
    assert body["agentId"] == world.other_agent.id and body["agentName"] == "Olga Agent"
    assert body["activityLog"][-1]["descriptions"] == ['agent changed from "Abe Agent" to "Olga Agent"']


async def test_agent_writes_agent_notes_only_once_shared(world):
    client = world.client
    s = await world.session()
    url = f"{SESSIONS}/{s['_id']}"
    resp = await client.patch(url, json={"agentNotes": "hi"}, headers=world.agent.headers)
    assert resp.status == 404  # not shared yet: it does not exist for the agent
    await client.post(url + "/share", headers=world.coach.headers)

    resp = await client.patch(url, json={"agentNotes": "I will try"}, headers=world.agent.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["agentNotes"] == "I will try"
    entry = body["activityLog"][-1]
    assert entry["userId"] == world.agent.id and entry["userEmail"] == world.agent.email
    assert entry["descriptions"] == ["agentNotes changed"]

    resp = await client.patch(url, json={"coachNotes": "sneaky"}, headers=world.agent.headers)
    assert resp.status == 403 and await resp.json() == {"error": "Only the session's coach can change coachNotes."}
    resp = await client.patch(url, json={"agentNotes": "by coach"}, headers=world.coach.headers)
    assert resp.status == 403
    assert await resp.json() == {"error": "Only the agent of a shared session can write agentNotes."}
    for path in ("/share", ""):
        resp = await client.request("POST" if path else "DELETE", url + path, headers=world.agent.headers)
        assert resp.status == 403
    assert (await world.read(s["_id"]))["agentNotes"] == "I will try"


async def test_share_confirm_delete_log_entries(world):
    client = world.client
    s = await world.session()
    url = f"{SESSIONS}/{s['_id']}"
    resp = await client.post(url + "/share", headers=world.coach.headers)
    assert (await resp.json())["sharedWithAgent"] is True
    await client.post(url + "/share", headers=world.coach.headers)  # no change, no entry

    resp = await client.post(url + "/confirm", headers=world.coach.headers)
    body = await resp.json()
    assert body["coachConfirmed"] is True and body["agentConfirmed"] is False
    resp = await client.post(url + "/confirm", headers=world.agent.headers)
    body = await resp.json()
    assert body["coachConfirmed"] is True and body["agentConfirmed"] is True
    resp = await client.post(url + "/confirm", headers=world.admin.headers)
    assert resp.status == 403
    assert await resp.json() == {"error": "Only the session's coach or agent can confirm it."}

    log = (await world.read(s["_id"], world.admin))["activityLog"]
    assert [(e["actionType"], e["descriptions"], e["userId"]) for e in log] == [
        ("created", ["coaching session created", "agent: Abe Agent"], world.coach.id),
        ("shared", ["shared with agent"], world.coach.id),
        ("confirmed", ["confirmed by coach"], world.coach.id),
        ("confirmed", ["confirmed by agent"], world.agent.id),
    ]
    assert {e["ipAddress"] for e in log} == {"127.0.0.1"}

    resp = await client.delete(url, headers=world.coach.headers)
    assert resp.status == 204
    assert (await client.get(url, headers=world.coach.headers)).status == 404
    assert (await client.delete(url, headers=world.coach.headers)).status == 404
    listed = await (await client.get(SESSIONS, headers=world.coach.headers)).json()
    assert listed["total"] == 0

    [exported] = await world.export("2026-03-01", "2026-03-31")
    assert exported["isDeleted"] is True
    assert exported["activityLog"][-1]["actionType"] == "deleted"
    assert exported["activityLog"][-1]["descriptions"] == ["coaching session deleted"]


async def test_admin_manages_any_session(world):
    s = await world.session()
    url = f"{SESSIONS}/{s['_id']}"
    resp = await world.client.patch(url, json={"coachNotes": "admin note"}, headers=world.admin.headers)
    assert resp.status == 200
    assert (await resp.json())["activityLog"][-1]["userId"] == world.admin.id
    assert (await world.client.post(url + "/share", headers=world.admin.headers)).status == 200


async def test_simultaneous_shares_log_once(world):
    s = await world.session()
    url = f"{SESSIONS}/{s['_id']}/share"
    responses = await asyncio.gather(*(world.client.post(url, headers=world.coach.headers) for _ in range(6)))
    assert {r.status for r in responses} == {200}
    log = (await world.read(s["_id"]))["activityLog"]
    assert [e["actionType"] for e in log] == ["created", "shared"]


async def test_simultaneous_patches_all_logged(world):
    s = await world.session()
    url = f"{SESSIONS}/{s['_id']}"
    responses = await asyncio.gather(*(
        world.client.patch(url, json={"coachingFormName": f"name {n}"}, headers=world.coach.headers)
        for n in range(5)
    ))
    assert {r.status for r in responses} == {200}
    body = await world.read(s["_id"])
    updates = [e for e in body["activityLog"] if e["actionType"] == "updated"]
    assert len(updates) == 5  # each saw the previous value: no lost update
    assert updates[-1]["descriptions"][0].endswith(f'to "{body["coachingFormName"]}"')


async def test_activity_ip_is_the_callers_address_behind_trusted_proxies(kit):
    """Behind `ratelimit.proxy_hops` reverse proxies the caller is the address the outermost
    trusted proxy saw, not the proxy itself; without proxies X-Forwarded-For is client-supplied
    and ignored."""
    from coaching_world import make_world

    proxied = await make_world(kit, ratelimit={"proxy_hops": 1})
    body = {"agentId": proxied.agent.id, "meetingDate": "2026-03-10T15:00:00Z"}
    headers = {**proxied.coach.headers, "X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
    resp = await proxied.client.post(SESSIONS, json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    [entry] = (await proxied.read((await resp.json())["_id"], proxied.admin))["activityLog"]
    assert entry["ipAddress"] == "203.0.113.9"

    direct = await make_world(kit)
    headers = {**direct.coach.headers, "X-Forwarded-For": "203.0.113.9"}
    resp = await direct.client.post(SESSIONS, json={**body, "agentId": direct.agent.id}, headers=headers)
    assert resp.status == 201, await resp.text()
    [entry] = (await direct.read((await resp.json())["_id"], direct.admin))["activityLog"]
    assert entry["ipAddress"] == "127.0.0.1"


async def test_a_deleted_user_is_no_agent(world):
    """Soft-deleted users are gone for every route, so agentId may not name one."""
    resp = await world.client.delete(f"/v1/users/{world.other_agent.id}", headers=world.admin.headers)
    assert resp.status == 200, await resp.text()
    body = {"agentId": world.other_agent.id, "meetingDate": "2026-03-10T15:00:00Z"}
    resp = await world.client.post(SESSIONS, json=body, headers=world.coach.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "agentId does not name an existing user."}

    s = await world.session()
    resp = await world.client.patch(f"{SESSIONS}/{s['_id']}", json={"agentId": world.other_agent.id},
                                    headers=world.coach.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "agentId does not name an existing user."}
    assert (await world.read(s["_id"]))["agentId"] == world.agent.id

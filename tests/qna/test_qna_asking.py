"""The asker's side: asking, tags, one's own questions; validation and permissions."""

from __future__ import annotations

import re

from qna_world import make_world
from sqlalchemy import func, select

from core.keys import DB
from plugins.qna.models import QNA, Tag


async def _count(world, model) -> int:
    async with world.client.app[DB].session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_ask_returns_the_question_with_tags_and_a_url_safe_alias(world):
    python = await world.tag("Python 3")
    maths = await world.tag("Maths")
    assert python == {"id": python["id"], "name": "Python 3", "alias": "python-3"}

    qna = await world.ask("What is a closure?", Q2="In Python.", tags=["python-3", "maths", "python-3"])
    assert set(qna) == {
        "id", "Q1", "Q2", "alias", "created_at", "tag", "user", "answer", "suggestion", "answered_at", "answered_by"
    }
    assert qna["Q1"] == "What is a closure?" and qna["Q2"] == "In Python."
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", qna["alias"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", qna["created_at"])
    assert qna["tag"] == [maths, python]  # by name, duplicates dropped
    assert qna["answer"] is None and qna["suggestion"] is None and qna["answered_at"] is None

    other = await world.ask("Another?")
    assert other["alias"] != qna["alias"] and other["Q2"] is None and other["tag"] == []


async def test_bad_ask_bodies_are_400_and_change_nothing(world):
    await world.tag("Maths")
    bad = [
        {"Q1": ""},
        {"Q1": "   "},
        {"Q2": "no Q1"},
        {"Q1": 5},
        {"Q1": "ok", "tags": "maths"},
        {"Q1": "ok", "tags": [""]},
        {"Q1": "ok", "unexpected": 1},
        {"Q1": "x" * 10_001},
    ]
    for body in bad:
        resp = await world.client.post("/qna/", json=body, headers=world.student.headers)
        assert resp.status == 400, body
        error = await resp.json()
        assert error["code"] == "invalid" and error["detail"] and "errors" in error, body

    resp = await world.client.post("/qna/", json={"Q1": "ok", "tags": ["maths", "nope", "zzz"]},
                                   headers=world.student.headers)
    assert resp.status == 400
    assert await resp.json() == {
        "detail": "Unknown tag alias: nope, zzz.",
        "code": "unknown_tag",
        "errors": {"tags": ["Unknown tag alias: nope.", "Unknown tag alias: zzz."]},
    }
    resp = await world.client.post("/qna/", data=b"{not json", headers=world.student.headers)
    assert resp.status == 400 and (await resp.json())["code"] == "invalid_json"
    resp = await world.client.post("/qna/", json=["Q1"], headers=world.student.headers)
    assert resp.status == 400 and (await resp.json())["code"] == "invalid_json"
    assert await _count(world, QNA) == 0


async def test_tags_admin_creates_anyone_lists(world):
    for name in ("Zoology", "Algebra", "Biology"):
        await world.tag(name)
    resp = await world.client.get("/qna/tags/", headers=world.student.headers)
    assert resp.status == 200
    page = await resp.json()
    assert page["count"] == 3 and page["next"] is None and page["previous"] is None
    assert [t["alias"] for t in page["results"]] == ["algebra", "biology", "zoology"]

    resp = await world.client.post("/qna/tags/", json={"name": "algebra!"}, headers=world.admin.headers)
    assert resp.status == 400 and (await resp.json())["code"] == "tag_exists"
    assert [(await world.tag(n))["alias"] for n in ("C++", "C#", "C", "Écoles")] == [
        "c-plus-plus", "c-sharp", "c", "ecoles"]
    unicode_only = await world.tag("数学")
    assert re.fullmatch(r"tag-[0-9a-f]{8}", unicode_only["alias"]) and unicode_only["name"] == "数学"
    for who in (world.student, world.tutor):
        resp = await world.client.post("/qna/tags/", json={"name": "Chemistry"}, headers=who.headers)
        assert resp.status == 403 and (await resp.json())["code"] == "permission_denied"
    resp = await world.client.post("/qna/tags/", json={"name": " "}, headers=world.admin.headers)
    assert resp.status == 400
    assert (await world.client.get("/qna/tags/")).status == 401
    assert await _count(world, Tag) == 8


async def test_student_sees_only_their_own_questions_with_answers(world):
    other = await world.kit.user(world.client, "student")
    mine = [await world.ask(f"Mine {i}") for i in range(3)]
    await world.ask("Theirs", who=other)

    resp = await world.client.get("/qna/mine/", headers=world.student.headers)
    page = await resp.json()
    assert resp.status == 200 and page["count"] == 3
    assert [q["alias"] for q in page["results"]] == [q["alias"] for q in reversed(mine)]  # newest first

    status, _ = await world.lock(world.tutor, mine[0]["alias"])
    assert status == 201
    status, _ = await world.answer(world.tutor, mine[0]["id"], "Because.", "Read more.")
    assert status == 202
    page = await (await world.client.get("/qna/mine/", headers=world.student.headers)).json()
    answered = next(q for q in page["results"] if q["id"] == mine[0]["id"])
    assert answered["answer"] == "Because." and answered["suggestion"] == "Read more."
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", answered["answered_at"])

    theirs = await (await world.client.get("/qna/mine/", headers=other.headers)).json()
    assert [q["Q1"] for q in theirs["results"]] == ["Theirs"]


async def test_permissions_student_asks_coach_coaches(kit):
    world = await make_world(kit)
    qna = await world.ask()
    # A student cannot coach.
    status, body = await world.lock(world.student, qna["alias"])
    assert status == 403 and body["code"] == "permission_denied"
    resp = await world.client.get("/qna/pending/", headers=world.student.headers)
    assert resp.status == 403
    status, body = await world.answer(world.student, qna["id"])
    assert status == 403 and body["code"] == "permission_denied"
    # A coach cannot ask (or list "mine") unless granted.
    resp = await world.client.post("/qna/", json={"Q1": "?"}, headers=world.tutor.headers)
    assert resp.status == 403
    assert (await world.client.get("/qna/mine/", headers=world.tutor.headers)).status == 403
    # Nobody anonymous.
    assert (await world.client.post("/qna/", json={"Q1": "?"})).status == 401
    assert (await world.client.get("/qna/pending/")).status == 401

    granted = await make_world(kit, auth={"grants": {"qna.ask": ["tutor"], "qna.coach": ["admin"]}})
    resp = await granted.client.post("/qna/", json={"Q1": "Tutors ask too"}, headers=granted.tutor.headers)
    assert resp.status == 201
    alias = (await resp.json())["alias"]
    status, _ = await granted.lock(granted.admin, alias)
    assert status == 201


async def test_the_qna_carries_its_asker_and_who_answered_it(world):
    """The contract's QNA has `user` (the asker) and `answered_by` beside the answer."""
    qna = await world.ask("Who asked?")
    assert qna["user"] == world.student.id and qna["answered_by"] is None

    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    assert (await world.answer(world.tutor, qna["id"]))[0] == 202
    page = await (await world.client.get("/qna/mine/", headers=world.student.headers)).json()
    [answered] = page["results"]
    assert answered["user"] == world.student.id and answered["answered_by"] == world.tutor.id

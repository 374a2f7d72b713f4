"""Answering: who may, what it changes in one transaction, and what it tells others."""

from __future__ import annotations

from qna_world import make_world
from sqlalchemy import func, select

from core import hookimpl
from core.keys import DB, PLUGIN_MANAGER
from core.notifications.models import Notification, OutboxEmail
from core.notifications.outbox import deliver_due
from plugins.qna.models import QNA, QNAOrder


async def _snapshot(world) -> tuple:
    async with world.client.app[DB].session() as session:
        qnas = [(q.id, q.answer, q.suggestion, q.answered_at, q.answered_by) for q in await session.scalars(select(QNA))]
        orders = [(o.id, o.status, o.closed_at) for o in await session.scalars(select(QNAOrder))]
        notes = (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
        mails = (await session.execute(select(func.count()).select_from(OutboxEmail))).scalar_one()
    return sorted(qnas), sorted(orders), notes, mails


async def test_only_the_holder_of_a_live_order_may_answer(world):
    qna = await world.ask()
    other = await world.coach()
    status, body = await world.answer(world.tutor, qna["id"])
    assert (status, body["code"]) == (403, "no_active_order")  # nobody holds it
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    status, body = await world.answer(other, qna["id"])
    assert (status, body["code"]) == (403, "no_active_order")  # someone else holds it
    status, body = await world.answer(world.tutor, 999_999)
    assert (status, body["code"]) == (404, "not_found")

    world.kit.clock.advance(hours=24)  # expiry is exclusive: at the expiration it is over
    status, body = await world.answer(world.tutor, qna["id"])
    assert (status, body["code"]) == (403, "no_active_order")


async def test_already_answered_beats_no_active_order(world):
    qna = await world.ask()
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    assert (await world.answer(world.tutor, qna["id"]))[0] == 202
    for coach in (world.tutor, await world.coach()):
        status, body = await world.answer(coach, qna["id"], "Again", "Again")
        assert (status, body["code"]) == (403, "qna_answered")
    async with world.client.app[DB].session() as session:
        assert (await session.get(QNA, qna["id"])).answer == "Spaced repetition."


async def test_bad_answer_bodies_are_400_and_change_nothing(world):
    qna = await world.ask()
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    before = await _snapshot(world)
    bad = [
        {"id": qna["id"], "answer": "a"},
        {"id": qna["id"], "suggestion": "s"},
        {"answer": "a", "suggestion": "s"},
        {"id": qna["id"], "answer": "", "suggestion": "s"},
        {"id": qna["id"], "answer": "a", "suggestion": "  "},
        {"id": qna["id"], "answer": None, "suggestion": "s"},
        {"id": str(qna["id"]), "answer": "a", "suggestion": "s"},
        {"id": 1.5, "answer": "a", "suggestion": "s"},
        {"id": True, "answer": "a", "suggestion": "s"},
        {"id": 10**30, "answer": "a", "suggestion": "s"},
    ]
    for body in bad:
        resp = await world.client.post("/qna/answer/", json=body, headers=world.tutor.headers)
        assert resp.status == 400, body
        assert (await resp.json())["code"] == "invalid"
    assert await _snapshot(world) == before


async def test_answer_notifies_the_asker_in_app_and_by_email(kit, smtp_server):
    world = await make_world(kit, email=smtp_server.email_settings)
    qna = await world.ask("How do I learn the times tables?")
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    status, order = await world.answer(world.tutor, qna["id"], "Practise a little daily.", "Use flash cards.")
    assert status == 202

    async with world.client.app[DB].session() as session:
        notes = list(await session.scalars(select(Notification)))
        mails = list(await session.scalars(select(OutboxEmail)))
    assert len(notes) == 1 and len(mails) == 1
    note = notes[0]
    assert note.user_id == world.student.id and note.type == "qna_answered" and not note.is_read
    assert note.data == {"qna_id": qna["id"], "qna_alias": qna["alias"], "order_id": order["id"]}
    assert note.created_at == world.kit.clock.now()
    assert mails[0].to_address == world.student.email and mails[0].status == "pending"

    # The in-app notification is what the asker reads through the core's endpoint.
    resp = await world.client.get("/v1/notifications", headers=world.student.headers)
    assert resp.status == 200 and "qna_answered" in await resp.text()

    assert await deliver_due(world.client.app) == 1
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == world.student.email
    assert message["Subject"] == "Your question has been answered"
    text = message.get_content()
    assert "How do I learn the times tables?" in text
    assert "Practise a little daily." in text and "Use flash cards." in text
    assert await deliver_due(world.client.app) == 0  # never twice


class Recorder:
    """Another plugin listening to `qna_answered`."""

    def __init__(self, db) -> None:
        self.db = db
        self.calls: list[tuple] = []

    @hookimpl
    async def qna_answered(self, app, qna, order):
        # Called after commit: a fresh session already sees the answer.
        async with self.db.session() as session:
            stored = await session.get(QNA, qna.id)
        self.calls.append((qna.alias, qna.answer, [t.alias for t in qna.tags], order.status, stored.answer))


class Broken:
    @hookimpl
    def qna_answered(self, app, qna, order):
        raise RuntimeError("a listener failed")


async def test_qna_answered_hook_runs_after_commit_and_failures_are_isolated(kit):
    app = kit.app(["qna"])
    broken = Broken()
    app[PLUGIN_MANAGER].register(broken)
    client = await kit.aiohttp_client(app)
    recorder = Recorder(app[DB])
    app[PLUGIN_MANAGER].register(recorder)
    student = await kit.user(client, "student")
    tutor = await kit.user(client, "tutor")
    admin = await kit.user(client, "admin")
    await client.post("/qna/tags/", json={"name": "Maths"}, headers=admin.headers)
    qna = await (await client.post("/qna/", json={"Q1": "1+1?", "tags": ["maths"]}, headers=student.headers)).json()
    resp = await client.post("/qna/lock/", json={"qna": qna["alias"], "status": "PD"}, headers=tutor.headers)
    assert resp.status == 201
    resp = await client.post("/qna/answer/", json={"id": qna["id"], "answer": "2", "suggestion": "Count."},
                             headers=tutor.headers)
    assert resp.status == 202  # the broken listener is logged, not propagated
    assert recorder.calls == [(qna["alias"], "2", ["maths"], "CP", "2")]


async def test_rejected_answer_does_not_call_the_hook(kit):
    app = kit.app(["qna"])
    client = await kit.aiohttp_client(app)
    recorder = Recorder(app[DB])
    app[PLUGIN_MANAGER].register(recorder)
    student, tutor = await kit.user(client, "student"), await kit.user(client, "tutor")
    qna = await (await client.post("/qna/", json={"Q1": "?"}, headers=student.headers)).json()
    resp = await client.post("/qna/answer/", json={"id": qna["id"], "answer": "a", "suggestion": "s"},
                             headers=tutor.headers)
    assert resp.status == 403 and recorder.calls == []

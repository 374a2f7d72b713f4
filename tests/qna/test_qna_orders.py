"""Taking, cancelling and expiring orders: the contract's rejections in its order."""

from __future__ import annotations

import datetime as dt

from qna_world import make_world
from sqlalchemy import select

from core.keys import DB
from plugins.qna import tasks
from plugins.qna.models import QNA, QNAOrder
from plugins.qna.services import expire_orders


def parse(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


async def orders(world) -> list[QNAOrder]:
    async with world.client.app[DB].session() as session:
        return list((await session.scalars(select(QNAOrder).order_by(QNAOrder.id))).all())


async def test_take_and_cancel_shapes(world):
    qna = await world.ask()
    status, order = await world.lock(world.tutor, qna["alias"])
    assert status == 201
    assert order == {
        "id": order["id"], "qna": qna["alias"], "coach": world.tutor.id, "status": "PD",
        "created_at": order["created_at"], "expiration": order["expiration"],
        "closed_at": None, "cancel_reason": None,
    }
    assert parse(order["expiration"]) - parse(order["created_at"]) == dt.timedelta(hours=24)
    assert parse(order["created_at"]) == world.kit.clock.now().replace(microsecond=0)

    status, cancelled = await world.lock(world.tutor, qna["alias"], "CL")
    assert status == 202
    assert cancelled["id"] == order["id"] and cancelled["status"] == "CL"
    assert cancelled["cancel_reason"] == "coach" and cancelled["closed_at"] is not None

    status, body = await world.lock(world.tutor, qna["alias"], "CL")
    assert status == 403 and body["code"] == "no_active_order"
    # Free again for anyone else.
    status, _ = await world.lock(await world.coach(), qna["alias"])
    assert status == 201


async def test_configured_order_hours_and_limit(kit):
    world = await make_world(kit, qna={"order_hours": 1.5, "max_active_orders": 1})
    first, second = await world.ask("1"), await world.ask("2")
    status, order = await world.lock(world.tutor, first["alias"])
    assert parse(order["expiration"]) - parse(order["created_at"]) == dt.timedelta(minutes=90)
    status, body = await world.lock(world.tutor, second["alias"])
    assert status == 403 and body["code"] == "too_many_orders"


async def test_rejection_codes_in_the_contracts_order(world):
    """Each situation satisfies its rule and every later one: the earliest rule must win."""
    coach_a, coach_b = world.tutor, await world.coach()
    target = await world.ask("Target")
    fillers = [await world.ask(f"Filler {i}") for i in range(3)]

    # B cancels an order on the target (-> cancelled_before would apply to B).
    assert (await world.lock(coach_b, target["alias"]))[0] == 201
    assert (await world.lock(coach_b, target["alias"], "CL"))[0] == 202
    # B fills up to the limit (-> too_many_orders would apply to B).
    for filler in fillers:
        assert (await world.lock(coach_b, filler["alias"]))[0] == 201

    # 5 alone: A holds three orders and asks for a fourth question.
    extra = [await world.ask(f"A{i}") for i in range(4)]
    for q in extra[:3]:
        assert (await world.lock(coach_a, q["alias"]))[0] == 201
    status, body = await world.lock(coach_a, extra[3]["alias"])
    assert (status, body["code"]) == (403, "too_many_orders")

    # 4 beats 5: B cancelled before and is full.
    status, body = await world.lock(coach_b, target["alias"])
    assert (status, body["code"]) == (403, "cancelled_before")

    # 3 beats 5: A holds the order on this question and is full.
    status, body = await world.lock(coach_a, extra[0]["alias"])
    assert (status, body["code"]) == (403, "already_holding")

    # 2 beats 4 and 5: a third coach takes the target; B (cancelled before, full) asks again.
    coach_c = await world.coach()
    assert (await world.lock(coach_c, target["alias"]))[0] == 201
    status, body = await world.lock(coach_b, target["alias"])
    assert (status, body["code"]) == (403, "order_taken")
    status, body = await world.lock(coach_a, target["alias"])
    assert (status, body["code"]) == (403, "order_taken")

    # 1 beats everything: C answers; B (cancelled before, full), A (full) and C itself retry.
    assert (await world.answer(coach_c, target["id"]))[0] == 202
    for coach in (coach_b, coach_a, coach_c):
        status, body = await world.lock(coach, target["alias"])
        assert (status, body["code"]) == (403, "qna_answered")
        assert body["detail"]


async def test_lock_unknown_alias_and_bad_bodies(world):
    qna = await world.ask()
    for status_value in ("PD", "CL"):
        status, body = await world.lock(world.tutor, "no-such-alias", status_value)
        assert (status, body["code"]) == (404, "not_found")
    bad = [
        {"qna": qna["alias"]},
        {"status": "PD"},
        {"qna": qna["alias"], "status": "CP"},
        {"qna": qna["alias"], "status": "pd"},
        {"qna": qna["alias"], "status": None},
        {"qna": 12, "status": "PD"},
        {"qna": "", "status": "PD"},
        {},
    ]
    for body in bad:
        resp = await world.client.post("/qna/lock/", json=body, headers=world.tutor.headers)
        assert resp.status == 400, body
        assert (await resp.json())["code"] == "invalid"
    resp = await world.client.post("/qna/lock/", data=b"", headers=world.tutor.headers)
    assert resp.status == 400
    assert await orders(world) == []


async def test_expired_order_counts_as_cancelled_before_the_sweep(world):
    coach_a, coach_b = world.tutor, await world.coach()
    held = [await world.ask(f"Q{i}") for i in range(3)]
    for q in held:
        assert (await world.lock(coach_a, q["alias"]))[0] == 201
    newcomer = await world.ask("New")
    assert (await world.lock(coach_a, newcomer["alias"]))[1]["code"] == "too_many_orders"

    world.kit.clock.advance(hours=25)
    # The list shows them free, at once.
    status, page = await world.pending()
    assert not any(e["accepted_order"] or e["expiration"] for e in page["results"])
    status, entry = await world.pending(alias=held[0]["alias"])
    assert entry["accepted_order"] is False and entry["expiration"] is None
    # The holder can neither answer nor cancel, and cannot take them back...
    status, body = await world.answer(coach_a, held[0]["id"])
    assert (status, body["code"]) == (403, "no_active_order")
    status, body = await world.lock(coach_a, held[0]["alias"], "CL")
    assert (status, body["code"]) == (403, "no_active_order")
    status, body = await world.lock(coach_a, held[0]["alias"])
    assert (status, body["code"]) == (403, "cancelled_before")
    # ...but no longer counts them against the limit.
    assert (await world.lock(coach_a, newcomer["alias"]))[0] == 201
    # Another coach takes an expired-but-unswept question: the old order becomes CL/expired.
    status, order = await world.lock(coach_b, held[0]["alias"])
    assert status == 201 and order["status"] == "PD"
    by_id = {o.qna_id: o for o in await orders(world) if o.coach_id == coach_a.id}
    old = by_id[held[0]["id"]]
    assert (old.status, old.cancel_reason, old.closed_at) == ("CL", "expired", old.expiration)
    assert by_id[held[1]["id"]].status == "PD"  # still stored PD until the sweep; counts as CL


async def test_sweep_marks_expired_orders_and_is_idempotent(world):
    coach_a, coach_b = world.tutor, await world.coach()
    questions = [await world.ask(f"Q{i}") for i in range(4)]
    for q in questions[:3]:
        assert (await world.lock(coach_a, q["alias"]))[0] == 201
    assert (await world.lock(coach_a, questions[1]["alias"], "CL"))[0] == 202  # by the coach
    assert (await world.answer(coach_a, questions[2]["id"]))[0] == 202  # completed
    world.kit.clock.advance(hours=12)
    assert (await world.lock(coach_b, questions[3]["alias"]))[0] == 201  # expires 12 h later
    world.kit.clock.advance(hours=13)  # A's order on Q0 is expired; B's on Q3 is not

    assert await expire_orders(world.client.app) == 1
    await tasks.expire_orders(world.client.app)  # the task entry point: nothing left to do
    assert await expire_orders(world.client.app) == 0
    state = {(o.qna_id, o.coach_id): o for o in await orders(world)}
    swept = state[(questions[0]["id"], coach_a.id)]
    assert (swept.status, swept.cancel_reason, swept.closed_at) == ("CL", "expired", swept.expiration)
    assert state[(questions[1]["id"], coach_a.id)].cancel_reason == "coach"
    assert state[(questions[2]["id"], coach_a.id)].status == "CP"
    assert state[(questions[3]["id"], coach_b.id)].status == "PD"

    # After the sweep the rules read the same as before it.
    status, body = await world.lock(coach_a, questions[0]["alias"])
    assert (status, body["code"]) == (403, "cancelled_before")
    assert (await world.lock(coach_b, questions[0]["alias"]))[0] == 201
    status, entry = await world.pending(alias=questions[0]["alias"])
    assert entry["accepted_order"] is True

    world.kit.clock.advance(hours=30)
    assert await expire_orders(world.client.app) == 2


async def test_expire_task_runs_through_the_supervisor(world):
    from core.keys import SUPERVISOR, TASK_SPECS

    specs = {spec.name: spec for spec in world.client.app[TASK_SPECS]}
    assert specs["qna.expire_orders"].every == 60
    assert specs["qna.expire_orders"].run is tasks.expire_orders

    qna = await world.ask()
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    world.kit.clock.advance(hours=25)
    assert await world.client.app[SUPERVISOR].run_once("qna.expire_orders") is True
    (order,) = await orders(world)
    assert (order.status, order.cancel_reason) == ("CL", "expired")


async def test_answered_question_is_stored(world):
    qna = await world.ask()
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    status, order = await world.answer(world.tutor, qna["id"], "  The answer  ", "A suggestion")
    assert status == 202 and order["status"] == "CP" and order["qna"] == qna["alias"]
    assert order["closed_at"] is not None and order["cancel_reason"] is None
    async with world.client.app[DB].session() as session:
        stored = await session.get(QNA, qna["id"])
    assert stored.answer == "  The answer  " and stored.suggestion == "A suggestion"
    assert stored.answered_by == world.tutor.id and stored.answered_at == world.kit.clock.now()

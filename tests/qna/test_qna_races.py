"""Racing requests, fired at once over real HTTP: the invariants hold on both backends."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.keys import DB
from plugins.qna.models import QNAOrder

COACHES = 8


async def _statuses(world, coach_and_alias: list[tuple]) -> Counter:
    results = await asyncio.gather(*(world.lock(coach, alias) for coach, alias in coach_and_alias))
    return Counter((status, body.get("code")) for status, body in results)


async def _pending_orders(world) -> list[QNAOrder]:
    async with world.client.app[DB].session() as session:
        return list(await session.scalars(select(QNAOrder).where(QNAOrder.status == "PD")))


async def test_many_coaches_racing_for_one_question_one_wins(world):
    coaches = [world.tutor] + [await world.coach() for _ in range(COACHES - 1)]
    for round_no in range(3):
        qna = await world.ask(f"Race {round_no}")
        outcome = await _statuses(world, [(coach, qna["alias"]) for coach in coaches])
        assert outcome == Counter({(201, None): 1, (403, "order_taken"): COACHES - 1}), outcome
        holders = [o for o in await _pending_orders(world) if o.qna_id == qna["id"]]
        assert len(holders) == 1
        # Cancel so every coach stays under the limit for the next round.
        coach = next(c for c in coaches if c.id == holders[0].coach_id)
        assert (await world.lock(coach, qna["alias"], "CL"))[0] == 202


async def test_one_coach_racing_for_six_questions_gets_three(world):
    questions = [await world.ask(f"Q{i}") for i in range(6)]
    outcome = await _statuses(world, [(world.tutor, q["alias"]) for q in questions])
    assert outcome == Counter({(201, None): 3, (403, "too_many_orders"): 3}), outcome
    assert len(await _pending_orders(world)) == 3


async def test_one_coach_double_submitting_one_question(world):
    qna = await world.ask()
    outcome = await _statuses(world, [(world.tutor, qna["alias"])] * 5)
    assert outcome == Counter({(201, None): 1, (403, "already_holding"): 4}), outcome


async def test_racing_for_an_expired_but_unswept_question(world):
    qna = await world.ask()
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    world.kit.clock.advance(hours=25)
    coaches = [await world.coach() for _ in range(5)]
    outcome = await _statuses(world, [(coach, qna["alias"]) for coach in coaches])
    assert outcome == Counter({(201, None): 1, (403, "order_taken"): 4}), outcome


async def test_answer_racing_the_cancel_one_outcome_only(world):
    qna = await world.ask()
    assert (await world.lock(world.tutor, qna["alias"]))[0] == 201
    answered, cancelled = await asyncio.gather(
        world.answer(world.tutor, qna["id"]), world.lock(world.tutor, qna["alias"], "CL")
    )
    assert sorted([answered[0], cancelled[0]]) in ([202, 403], [403, 202])
    async with world.client.app[DB].session() as session:
        order = (await session.scalars(select(QNAOrder))).one()
    assert order.status == ("CP" if answered[0] == 202 else "CL")


async def test_partial_unique_index_is_the_backstop(world):
    qna = await world.ask()
    other = await world.coach()
    now = world.kit.clock.now()
    with pytest.raises(IntegrityError):
        async with world.client.app[DB].transaction() as session:
            for coach in (world.tutor, other):
                session.add(QNAOrder(qna_id=qna["id"], coach_id=coach.id, status="PD", created_at=now, expiration=now))
                await session.flush()
    # Not pending, any number.
    async with world.client.app[DB].transaction() as session:
        for coach in (world.tutor, other):
            session.add(QNAOrder(qna_id=qna["id"], coach_id=coach.id, status="CL", cancel_reason="coach",
                                 created_at=now, expiration=now))

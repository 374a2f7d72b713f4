"""Seed QnA data with COPY: coaches, askers, tags and unanswered questions with tags."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid

import asyncpg

from core.auth.passwords import hash_password

PASSWORD = "benchmark-password"


async def seed_qna(conn: asyncpg.Connection, *, questions: int, coaches: int, tags: int = 40) -> list[str]:
    """Returns the coaches' emails (all with PASSWORD)."""
    rng = random.Random(11)
    now = dt.datetime.now(dt.timezone.utc)
    password = await hash_password(PASSWORD)
    coach_rows = [(str(uuid.uuid4()), f"coach{i}@bench.example", "tutor", f"Coach {i}") for i in range(coaches)]
    asker_rows = [(str(uuid.uuid4()), f"asker{i}@bench.example", "student", f"Asker {i}") for i in range(200)]
    await conn.copy_records_to_table(
        "users",
        columns=["id", "email", "password_hash", "fullname", "role_id", "email_verified",
                 "tutor_application_status", "account_status", "is_active", "record_version",
                 "created_at", "updated_at"],
        records=[(uid, email, password, name, role, True, "none", "active", True, 1, now, now)
                 for uid, email, role, name in coach_rows + asker_rows],
    )
    await conn.copy_records_to_table(
        "qna_tags", columns=["id", "name", "alias"],
        records=[(i + 1, f"Topic {i}", f"topic-{i}") for i in range(tags)],
    )
    question_rows = []
    tag_rows = []
    for i in range(questions):
        qid = i + 1
        created = now - dt.timedelta(minutes=questions - i)
        question_rows.append((qid, secrets.token_urlsafe(9), f"How do I solve problem {i}? " + "x" * rng.randint(40, 400),
                              None if i % 3 else "Some more context.", rng.choice(asker_rows)[0], created))
        for tag in rng.sample(range(1, tags + 1), rng.randint(1, 3)):
            tag_rows.append((qid, tag))
    await conn.copy_records_to_table("qna_questions", columns=["id", "alias", "q1", "q2", "user_id", "created_at"],
                                     records=question_rows)
    await conn.copy_records_to_table("qna_question_tags", columns=["qna_id", "tag_id"], records=tag_rows)
    for table in ("qna_questions", "qna_tags"):
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return [email for _, email, _, _ in coach_rows]

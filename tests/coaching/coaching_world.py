"""Helpers for the coaching tests: a client with coaches, agents, an admin and an API token,
plus direct bulk inserts for export tests that need many sessions at chosen dates."""

from __future__ import annotations

import datetime as dt
import time
import types
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from core.keys import DB
from core.testing import Kit, KitUser
from plugins.coaching.models import (
    ActivityLogEntry,
    CoachingPoint,
    CoachingPointSession,
    CoachingSession,
    Todo,
    TodoSession,
    new_id,
)

UTC = dt.timezone.utc
SESSIONS = "/api/v1/coaching/sessions"
POINTS = "/api/v1/coaching/points"
TODOS = "/api/v1/coaching/todos"
EXPORT = "/api/v1/coaching-sessions"


@dataclass
class World:
    kit: Kit
    client: TestClient
    coach: KitUser
    other_coach: KitUser
    agent: KitUser
    other_agent: KitUser
    admin: KitUser
    token: str

    @property
    def api(self) -> dict[str, str]:
        return {"apiToken": self.token}

    async def session(self, coach: KitUser | None = None, agent: KitUser | None = None, **fields: Any) -> dict:
        body = {"agentId": (agent or self.agent).id, "meetingDate": "2026-03-10T15:00:00Z", **fields}
        resp = await self.client.post(SESSIONS, json=body, headers=(coach or self.coach).headers)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def shared_session(self, **fields: Any) -> dict:
        created = await self.session(**fields)
        resp = await self.client.post(f"{SESSIONS}/{created['_id']}/share", headers=self.coach.headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def point(self, session_ids: list[str], user: KitUser | None = None, **fields: Any) -> dict:
        body = {"coachingFormIds": session_ids, "type": "strength", "classification": "qa", **fields}
        resp = await self.client.post(POINTS, json=body, headers=(user or self.coach).headers)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def todo(self, session_ids: list[str], user: KitUser | None = None, **fields: Any) -> dict:
        body = {"coachingFormIds": session_ids, "title": "Read the refund policy", **fields}
        resp = await self.client.post(TODOS, json=body, headers=(user or self.coach).headers)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def read(self, session_id: str, user: KitUser | None = None) -> dict:
        resp = await self.client.get(f"{SESSIONS}/{session_id}", headers=(user or self.coach).headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def export(self, start: str, end: str, axis: str = "meetingDate", token: str | None = None) -> Any:
        resp = await self.client.post(
            EXPORT, json={"startDate": start, "endDate": end, "timeAxis": axis}, headers={"apiToken": token or self.token}
        )
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def make_world(kit: Kit, **overrides: dict[str, Any]) -> World:
    client = await kit.client(["coaching"], **overrides)
    admin = await kit.user(client, "admin", fullname="Ada Admin")
    return World(
        kit=kit,
        client=client,
        coach=await kit.user(client, "tutor", fullname="Cora Coach"),
        other_coach=await kit.user(client, "tutor", fullname="Otto Coach"),
        agent=await kit.user(client, "student", fullname="Abe Agent"),
        other_agent=await kit.user(client, "student", fullname="Olga Agent"),
        admin=admin,
        token=await kit.api_token(client, admin),
    )


def at(text: str) -> dt.datetime:
    """`2026-01-31 23:59:59.999` -> an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


async def insert_sessions(
    world: World, specs: list[dict[str, Any]], *, points: int = 0, todos: int = 0, log_entries: int = 0
) -> list[dict[str, Any]]:
    """Insert sessions directly (fast); each spec may set `meeting_date`, `created_at`, `is_deleted`.

    Each session gets `points` points, `todos` to-dos and `log_entries` activity entries of its own.
    Returns the inserted session rows as dicts (column names)."""
    rows, point_rows, point_links, todo_rows, todo_links, log_rows = [], [], [], [], [], []
    for n, spec in enumerate(specs):
        created = spec.get("created_at", at("2026-01-01 00:00:00"))
        row = {
            "id": spec.get("id") or new_id(),
            "coaching_form_name": f"Form {n}",
            "coaching_template_id": "tpl-1",
            "coaching_template_name": "Weekly 1:1",
            "meeting_format": "video",
            "form_creator_id": world.coach.id,
            "form_creator_name": "Cora Coach",
            "coach_id": world.coach.id,
            "coach_name": "Cora Coach",
            "agent_id": world.agent.id,
            "agent_name": "Abe Agent",
            "created_at": created,
            "updated_at": created,
            "shared_with_agent": n % 2 == 0,
            "meeting_date": spec.get("meeting_date", created),
            "agent_confirmed": False,
            "coach_confirmed": n % 3 == 0,
            "coach_notes": f"notes {n}",
            "agent_notes": "",
            "is_deleted": spec.get("is_deleted", False),
        }
        rows.append(row)
        for k in range(points):
            pid = new_id()
            point_rows.append({
                "id": pid, "type": "opportunity", "classification": "csat", "ticket_id": f"T-{n}-{k}",
                "subject": "Refund", "rubric_name": "", "criteria_name": "", "kpi_name": "AHT", "score": str(k),
                "agent_notes": "", "coach_notes": "", "creator_id": world.coach.id, "created_at": created,
                "updated_at": created, "is_deleted": k == 1,
            })
            point_links.append({"point_id": pid, "session_id": row["id"], "position": 0})
        for k in range(todos):
            tid = new_id()
            todo_rows.append({
                "id": tid, "action_string": "", "completed_at": None, "created_at": created,
                "creator_id": world.coach.id, "creator_name": "Cora Coach", "description": "", "link": "",
                "status": "open", "title": f"todo {n}-{k}", "type": "", "updated_at": created, "is_deleted": False,
            })
            todo_links.append({"todo_id": tid, "session_id": row["id"], "position": 0})
        for k in range(log_entries):
            log_rows.append({
                "session_id": row["id"], "user_id": world.coach.id, "user_email": world.coach.email,
                "action_type": "created" if k == 0 else "updated", "descriptions": [f"entry {k}"],
                "timestamp": created, "ip_address": "127.0.0.1",
            })
    async with world.client.app[DB].transaction() as db:
        for model, values in (
            (CoachingSession, rows), (CoachingPoint, point_rows), (CoachingPointSession, point_links),
            (Todo, todo_rows), (TodoSession, todo_links), (ActivityLogEntry, log_rows),
        ):
            if values:
                await db.execute(insert(model), values)
    return rows


class LimiterClock:
    """Stands in for the `time` module inside the rate limiter and `limits` storages:
    `time()` is frozen until `advance`, everything else is the real module."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def module(self) -> types.SimpleNamespace:
        real = {name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
        return types.SimpleNamespace(**{**real, "time": self.time})

"""The QnA test world: an app with only qna enabled, its actors, and request helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from core.testing import Kit, KitUser


@dataclass
class QnaWorld:
    kit: Kit
    client: TestClient
    student: KitUser
    tutor: KitUser
    admin: KitUser

    async def coach(self) -> KitUser:
        return await self.kit.user(self.client, "tutor")

    async def tag(self, name: str) -> dict[str, Any]:
        resp = await self.client.post("/qna/tags/", json={"name": name}, headers=self.admin.headers)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def ask(self, q1: str = "How do I revise?", *, who: KitUser | None = None, **body: Any) -> dict[str, Any]:
        resp = await self.client.post("/qna/", json={"Q1": q1, **body}, headers=(who or self.student).headers)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def lock(self, coach: KitUser, alias: str, status: str = "PD") -> tuple[int, dict[str, Any]]:
        resp = await self.client.post("/qna/lock/", json={"qna": alias, "status": status}, headers=coach.headers)
        return resp.status, await resp.json()

    async def answer(self, coach: KitUser, qna_id: int, answer: str = "Spaced repetition.",
                     suggestion: str = "Start today.") -> tuple[int, dict[str, Any]]:
        resp = await self.client.post(
            "/qna/answer/", json={"id": qna_id, "answer": answer, "suggestion": suggestion}, headers=coach.headers
        )
        return resp.status, await resp.json()

    async def pending(self, coach: KitUser | None = None, **params: Any) -> tuple[int, Any]:
        resp = await self.client.get("/qna/pending/", params=params, headers=(coach or self.tutor).headers)
        return resp.status, await resp.json()


async def make_world(kit: Kit, **overrides: dict[str, Any]) -> QnaWorld:
    client = await kit.client(["qna"], **overrides)
    return QnaWorld(
        kit,
        client,
        student=await kit.user(client, "student"),
        tutor=await kit.user(client, "tutor"),
        admin=await kit.user(client, "admin"),
    )

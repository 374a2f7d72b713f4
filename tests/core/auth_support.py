"""Helpers shared by the identity tests (tests/core/test_auth_*.py)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from core import hookimpl
from core.keys import PLUGIN_MANAGER

USER_FIELDS = [
    "id", "email", "fullname", "avatar", "roleId", "emailVerified", "tutorApplicationStatus",
    "tutorApplicationStatus_idx", "certifications", "qualifications", "bio", "specializations",
    "applicationReviewNote", "applicationDocuments", "accountStatus", "accountStatus_idx", "isActive",
    "recordVersion", "createdAt", "updatedAt", "_owner",
]


class Events:
    """Records the domain events the core emits through the `on_event` hook."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def on_event(self, app: Any, name: str, payload: dict[str, Any]) -> None:
        self.seen.append((name, payload))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [payload for event, payload in self.seen if event == name]


async def client_with_events(kit: Any, plugins: list[str] | None = None, **overrides: Any) -> tuple[TestClient, Events]:
    app = kit.app(plugins or [], **overrides)
    events = Events()
    app[PLUGIN_MANAGER].register(events)
    return await kit.aiohttp_client(app), events


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: TestClient, username: str, password: str, **extra: Any) -> Any:
    """POST /login, then forget the cookie so later requests carry only what a test gives them."""
    resp = await client.post("/login", json={"username": username, "password": password, **extra})
    client.session.cookie_jar.clear()
    return resp


async def token_works(client: TestClient, token: str) -> bool:
    resp = await client.get("/currentuser", headers=bearer(token))
    assert resp.status in (200, 401), await resp.text()
    return resp.status == 200


def assert_no_secrets(text: str) -> None:
    """No password field and no argon2 hash in a response body."""
    assert '"password"' not in text
    assert "passwordHash" not in text and "password_hash" not in text
    assert "$argon2" not in text


async def assert_error(resp: Any, status: int, message: str) -> dict[str, Any]:
    """A tutorhub-style error with this status and `errMsg_...` key."""
    body = await resp.json()
    assert resp.status == status, body
    assert body["result"] == "ERR" and body["status"] == status and body["errCode"] == status, body
    assert body["message"] == message, body
    assert body["detail"], body
    return body

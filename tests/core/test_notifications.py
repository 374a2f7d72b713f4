"""In-app notifications: the notify() service call and the /v1/notifications routes."""

import uuid

import pytest
from sqlalchemy import func, select

from core.errors import NotFound
from core.keys import CLOCK, DB, TASK_SPECS
from core.notifications.models import Notification, OutboxEmail
from core.notifications.services import notify, queue_email

NOTIFICATION_KEYS = {"id", "userId", "type", "title", "body", "data", "isRead", "createdAt"}


async def _notify(kit, app, user, title, **kw):
    async with app[DB].transaction() as session:
        notification = await notify(
            session, user_id=user.id, type=kw.pop("type", "test"), title=title, body=kw.pop("body", f"{title} body"),
            now=app[CLOCK].now(), **kw,
        )
    kit.clock.advance(seconds=1)
    return notification


async def _count(app, model, *where):
    async with app[DB].session() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_list_is_own_newest_first_paginated_and_filterable(kit):
    client = await kit.client()
    alice = await kit.user(client, "student")
    bob = await kit.user(client, "tutor")
    first = await _notify(kit, client.app, alice, "first", data={"orderId": 7})
    await _notify(kit, client.app, alice, "second")
    third = await _notify(kit, client.app, alice, "third")
    await _notify(kit, client.app, bob, "bob's")

    resp = await client.get("/v1/notifications", headers=alice.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["status"] == "OK" and body["dataName"] == "notifications" and body["action"] == "list"
    assert [n["title"] for n in body["notifications"]] == ["third", "second", "first"]
    assert body["paging"] == {"pageNumber": 1, "pageRowCount": 25, "totalRowCount": 3, "pageCount": 1}
    newest = body["notifications"][0]
    assert set(newest) == NOTIFICATION_KEYS
    assert newest["id"] == third.id and newest["userId"] == alice.id and newest["isRead"] is False
    assert newest["createdAt"].endswith("Z") and newest["type"] == "test" and newest["body"] == "third body"
    assert body["notifications"][2]["data"] == {"orderId": 7} and body["notifications"][2]["id"] == first.id

    resp = await client.get("/v1/notifications?pageNumber=2&pageRowCount=2", headers=alice.headers)
    body = await resp.json()
    assert [n["title"] for n in body["notifications"]] == ["first"]
    assert body["paging"] == {"pageNumber": 2, "pageRowCount": 2, "totalRowCount": 3, "pageCount": 2}
    assert body["rowCount"] == 1

    await client.patch(f"/v1/notifications/{third.id}/read", headers=alice.headers)
    body = await (await client.get("/v1/notifications?unread=true", headers=alice.headers)).json()
    assert [n["title"] for n in body["notifications"]] == ["second", "first"]
    assert body["paging"]["totalRowCount"] == 2
    body = await (await client.get("/v1/notifications?unread=false&getJoins=true", headers=alice.headers)).json()
    assert len(body["notifications"]) == 3  # unread=false means no filter; common tutorhub params are ignored

    body = await (await client.get("/v1/notifications?pageNumber=0", headers=alice.headers)).json()
    assert len(body["notifications"]) == 3  # pageNumber=0 turns paging off

    body = await (await client.get("/v1/notifications", headers=bob.headers)).json()
    assert [n["title"] for n in body["notifications"]] == ["bob's"]


async def test_mark_read_is_own_only(kit):
    client = await kit.client()
    alice = await kit.user(client, "student")
    bob = await kit.user(client, "student")
    mine = await _notify(kit, client.app, alice, "hello")

    resp = await client.patch(f"/v1/notifications/{mine.id}/read", headers=bob.headers)
    assert resp.status == 404
    err = await resp.json()
    assert err["result"] == "ERR" and err["message"] == "errMsg_notificationNotFound" and err["errCode"] == 404
    assert await _count(client.app, Notification, Notification.is_read.is_(True)) == 0

    resp = await client.patch(f"/v1/notifications/{mine.id}/read", headers=alice.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["dataName"] == "notification" and body["action"] == "update"
    assert body["notification"]["id"] == mine.id and body["notification"]["isRead"] is True
    # Idempotent.
    resp = await client.patch(f"/v1/notifications/{mine.id}/read", headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["notification"]["isRead"] is True

    resp = await client.patch(f"/v1/notifications/{uuid.uuid4()}/read", headers=alice.headers)
    assert resp.status == 404


async def test_read_all_marks_only_own_unread_and_counts(kit):
    client = await kit.client()
    alice = await kit.user(client, "student")
    bob = await kit.user(client, "student")
    read = await _notify(kit, client.app, alice, "a")
    await _notify(kit, client.app, alice, "b")
    await _notify(kit, client.app, alice, "c")
    await _notify(kit, client.app, bob, "bob")
    await client.patch(f"/v1/notifications/{read.id}/read", headers=alice.headers)

    resp = await client.patch("/v1/notifications/readall", headers=alice.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["dataName"] == "readAll" and body["readAll"] == {"count": 2}
    assert (await (await client.patch("/v1/notifications/readall", headers=alice.headers)).json())["readAll"] == {"count": 0}
    body = await (await client.get("/v1/notifications?unread=true", headers=bob.headers)).json()
    assert [n["title"] for n in body["notifications"]] == ["bob"]


async def test_routes_reject_anonymous_bad_ids_and_bad_paging(kit):
    client = await kit.client()
    alice = await kit.user(client, "student")
    mine = await _notify(kit, client.app, alice, "x")
    for method, path in (
        ("GET", "/v1/notifications"),
        ("PATCH", f"/v1/notifications/{mine.id}/read"),
        ("PATCH", "/v1/notifications/readall"),
    ):
        resp = await client.request(method, path)
        assert resp.status == 401, (method, path)
        assert (await resp.json())["result"] == "ERR"
    resp = await client.patch("/v1/notifications/readall", headers={"Authorization": "Bearer not-a-token"})
    assert resp.status == 401

    resp = await client.patch("/v1/notifications/not-a-uuid/read", headers=alice.headers)
    assert resp.status == 400
    assert (await resp.json())["message"] == "errMsg_notificationIdisNotAValidID"

    for query in ("pageNumber=-1", "pageRowCount=0", "pageNumber=abc", "unread=maybe", "pageRowCount=100000"):
        resp = await client.get(f"/v1/notifications?{query}", headers=alice.headers)
        assert resp.status == 400, query
        assert (await resp.json())["result"] == "ERR"
    assert await _count(client.app, Notification, Notification.is_read.is_(True)) == 0


async def test_notify_writes_notification_and_email_in_the_callers_transaction(kit):
    client = await kit.client()
    alice = await kit.user(client, "student")
    db = client.app[DB]

    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await notify(session, user_id=alice.id, type="t", title="rolled back", body="b")
            raise RuntimeError("the caller's operation failed after notifying")
    assert await _count(client.app, Notification) == 0
    assert await _count(client.app, OutboxEmail) == 0

    async with db.transaction() as session:
        notification = await notify(
            session, user_id=alice.id, type="orderPaid", title="Paid", body="Your order is paid.", data={"id": 1},
        )
        await notify(session, user_id=alice.id, type="t", title="Subject here", body="Body here",
                     email_subject="Custom subject", email_body="Custom body")
        await notify(session, user_id=alice.id, type="t", title="in-app only", body="b", email=False)
    assert notification.id and notification.is_read is False
    async with db.session() as session:
        emails = (await session.scalars(select(OutboxEmail).order_by(OutboxEmail.subject))).all()
    assert [(e.to_address, e.subject, e.body, e.status, e.attempts) for e in emails] == [
        (alice.email, "Custom subject", "Custom body", "pending", 0),
        (alice.email, "Paid", "Your order is paid.", "pending", 0),
    ]
    assert await _count(client.app, Notification, Notification.user_id == alice.id) == 3


async def test_notify_unknown_user_and_archived_user(kit):
    client = await kit.client()
    db = client.app[DB]
    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await notify(session, user_id=str(uuid.uuid4()), type="t", title="x", body="y")
    ghost = await kit.user(client, "student", is_active=False)
    async with db.transaction() as session:
        await notify(session, user_id=ghost.id, type="t", title="x", body="y")
    assert await _count(client.app, Notification) == 1
    assert await _count(client.app, OutboxEmail) == 0  # no email to an archived profile


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": "not-an-address"},
        {"to": "a@b.com\r\nBcc: victim@example.com"},
        {"subject": "hi\r\nBcc: victim@example.com"},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"X-Tag": "a\nb"}},
        {"headers": {"Bad Name": "v"}},
    ],
)
async def test_queue_email_rejects_unusable_input(kit, kwargs):
    client = await kit.client()
    args = {"to": "someone@example.com", "subject": "s", "body": "b", **kwargs}
    with pytest.raises(ValueError):
        async with client.app[DB].transaction() as session:
            await queue_email(session, **args)
    assert await _count(client.app, OutboxEmail) == 0


async def test_outbox_task_is_registered_with_the_configured_interval(kit):
    app = kit.app(email={"outbox_interval": 2.5})
    specs = {spec.name: spec for spec in app[TASK_SPECS]}
    assert specs["core.outbox"].every == 2.5
    from core.notifications.outbox import deliver_due

    assert specs["core.outbox"].run is deliver_due


async def test_routes_are_documented(kit):
    client = await kit.client()
    spec = await (await client.get("/api/docs/swagger.json")).json()
    assert "get" in spec["paths"]["/v1/notifications"]
    assert "patch" in spec["paths"]["/v1/notifications/readall"]
    assert "patch" in spec["paths"]["/v1/notifications/{id}/read"]

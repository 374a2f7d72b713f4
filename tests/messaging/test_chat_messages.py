"""M5-M8 over REST: membership, visibility, filters, edit/delete rules, and `after=` resync."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from chat_world import actor

from core.errors import ApiError

MESSAGES = "/v1/chat-messages"


@pytest.fixture
async def room(chat):
    return (await chat.room())["id"]


async def test_members_list_their_rooms_and_strangers_see_nothing(chat, room):
    notice = (await chat.room("adminStudent"))["id"]
    m1 = await chat.post(room, chat.student, "hi tutor")
    m2 = await chat.post(room, chat.tutor, "hi student")
    await chat.post(notice, chat.admin, "", message_type="warning", content={"text": "careful", "severity": "warning"})

    for path in (MESSAGES, "/v1/v1/chat-messages"):  # the seed's doubled path is an alias
        status, body = await chat.get(path, chat.tutor, roomId=room)
        assert status == 200 and body["dataName"] == "chatMessages" and body["action"] == "list"
        assert [m["id"] for m in body["chatMessages"]] == [m2.id, m1.id]  # newest first
    first = body["chatMessages"][1]
    assert first["content"] == {"text": "hi tutor"} and first["messageType"] == "text" and first["messageType_idx"] == 0
    assert first["status"] == "approved" and first["status_idx"] == 1 and first["senderName"] == "Sam Student"
    assert first["roomId"] == room and first["_owner"] == chat.student.id and first["replyTo"] is None

    # Without roomId each caller gets exactly the rooms they are in.
    _, body = await chat.get(MESSAGES, chat.student)
    assert body["paging"]["totalRowCount"] == 3
    _, body = await chat.get(MESSAGES, chat.tutor)
    assert body["paging"]["totalRowCount"] == 2
    _, body = await chat.get(MESSAGES, chat.admin)
    assert body["paging"]["totalRowCount"] == 3  # admins read every room
    # A stranger: nothing without roomId, 403 with it, 404 for a message id.
    status, body = await chat.get(MESSAGES, chat.other)
    assert status == 200 and body["chatMessages"] == []
    status, body = await chat.get(MESSAGES, chat.other, roomId=room)
    assert status == 403 and body["message"] == "errMsg_NotAConversationParticipant" and "chatMessages" not in body
    status, body = await chat.get(f"{MESSAGES}/{m1.id}", chat.other)
    assert status == 404 and body["message"] == "errMsg_ChatMessageNotFound"
    resp = await chat.client.delete(f"{MESSAGES}/{m1.id}", headers=chat.other.headers)
    assert resp.status == 404
    resp = await chat.client.patch(f"{MESSAGES}/{m1.id}", json={"content": {"text": "pwned"}}, headers=chat.other.headers)
    assert resp.status == 404
    assert (await chat.stored(room))[0].content == {"text": "hi tutor"}
    resp = await chat.client.get(MESSAGES)
    assert resp.status == 401


async def test_get_one_message(chat, room):
    message = await chat.post(room, chat.student, "hello")
    for user in (chat.student, chat.tutor, chat.admin):
        for path in (MESSAGES, "/v1/v1/chat-messages"):
            status, body = await chat.get(f"{path}/{message.id}", user)
            assert status == 200 and body["chatMessage"]["id"] == message.id and body["action"] == "get"
    status, body = await chat.get(f"{MESSAGES}/{uuid.uuid4()}", chat.student)
    assert status == 404
    status, body = await chat.get(f"{MESSAGES}/xyz", chat.student)
    assert status == 400 and body["message"] == "errMsg_idisNotAValidID"


async def test_rejected_and_pending_messages_are_hidden_from_other_members(chat, room):
    message = await chat.post(room, chat.student, "questionable")
    kept = await chat.post(room, chat.student, "fine")
    resp = await chat.client.patch(f"{MESSAGES}/{message.id}", json={"status": "rejected"}, headers=chat.admin.headers)
    body = await resp.json()
    assert resp.status == 200 and body["chatMessage"]["status"] == "rejected" and body["chatMessage"]["recordVersion"] == 2

    _, body = await chat.get(MESSAGES, chat.tutor, roomId=room)
    assert [m["id"] for m in body["chatMessages"]] == [kept.id]
    status, _ = await chat.get(f"{MESSAGES}/{message.id}", chat.tutor)
    assert status == 404
    # The sender and admins still see it by id; the sender's own rejected message stays out of lists.
    assert (await chat.get(f"{MESSAGES}/{message.id}", chat.student))[0] == 200
    assert (await chat.get(f"{MESSAGES}/{message.id}", chat.admin))[0] == 200
    _, body = await chat.get(MESSAGES, chat.student, roomId=room)
    assert [m["id"] for m in body["chatMessages"]] == [kept.id]
    _, body = await chat.get(MESSAGES, chat.admin, roomId=room, status="REJECTED")
    assert [m["id"] for m in body["chatMessages"]] == [message.id]

    # Pending: the sender sees their own, the other member does not.
    resp = await chat.client.patch(f"{MESSAGES}/{message.id}", json={"status": "pending"}, headers=chat.admin.headers)
    assert resp.status == 200
    _, body = await chat.get(MESSAGES, chat.student, roomId=room)
    assert {m["id"] for m in body["chatMessages"]} == {kept.id, message.id}
    _, body = await chat.get(MESSAGES, chat.tutor, roomId=room)
    assert [m["id"] for m in body["chatMessages"]] == [kept.id]


async def test_list_filters(chat, room):
    hello = await chat.post(room, chat.student, "hello")
    chat.kit.clock.advance(days=1)
    pic = await chat.post(room, chat.tutor, "", message_type="image", content={"url": "https://x.test/a.png", "width": 3})
    day = hello.timestamp.strftime("%Y-%m-%d")

    async def ids(**params):
        status, body = await chat.get(MESSAGES, chat.student, roomId=room, **params)
        assert status == 200, body
        return {m["id"] for m in body["chatMessages"]}

    assert await ids(senderId=chat.tutor.id) == {pic.id}
    assert await ids(senderName="sAm stu") == {hello.id}
    assert await ids(messageType="IMAGE") == {pic.id}
    assert await ids(content='{"width": 3, "url": "https://x.test/a.png"}') == {pic.id}  # key order is irrelevant
    assert await ids(content='{"text": "hell"}') == set()
    assert await ids(timestamp=day) == {hello.id}
    assert await ids(timestamp=day[:7]) == {hello.id, pic.id}
    assert await ids(replyTo="null") == {hello.id, pic.id}
    assert await ids(senderName="nobody") == set()
    for bad in ({"messageType": "video"}, {"timestamp": "yesterday"}, {"content": "{oops"}, {"senderId": "x"},
                {"pageNumber": "-1"}):
        status, body = await chat.get(MESSAGES, chat.student, roomId=room, **bad)
        assert status == 400, (bad, body)


async def test_after_returns_exactly_the_missed_messages_in_order(chat, room):
    seen = await chat.post(room, chat.student, "seen")
    missed = [await chat.post(room, chat.student if i % 2 else chat.tutor, f"missed {i}") for i in range(5)]
    other_room = (await chat.room("adminTutor"))["id"]
    await chat.post(other_room, chat.admin, "elsewhere")

    for key in ("conversationId", "roomId"):
        status, body = await chat.get(MESSAGES, chat.tutor, **{key: room, "after": seen.id})
        assert status == 200
        assert [m["id"] for m in body["chatMessages"]] == [m.id for m in missed]
    # Paging walks forward in the same order; the last id yields nothing more.
    _, body = await chat.get(MESSAGES, chat.tutor, conversationId=room, after=seen.id, pageRowCount="2")
    assert [m["id"] for m in body["chatMessages"]] == [m.id for m in missed[:2]]
    _, body = await chat.get(MESSAGES, chat.tutor, conversationId=room, after=missed[-1].id)
    assert body["chatMessages"] == []
    # `after` alone implies its room; a deleted cursor message still works.
    resp = await chat.client.delete(f"{MESSAGES}/{seen.id}", headers=chat.student.headers)
    assert resp.status == 200
    _, body = await chat.get(MESSAGES, chat.tutor, after=seen.id)
    assert [m["id"] for m in body["chatMessages"]] == [m.id for m in missed]
    # Mismatched room, unknown id, stranger.
    status, body = await chat.get(MESSAGES, chat.admin, conversationId=other_room, after=seen.id)
    assert status == 400 and body["message"] == "errMsg_afterNotInRoom"
    status, _ = await chat.get(MESSAGES, chat.tutor, conversationId=room, after=str(uuid.uuid4()))
    assert status == 404
    status, _ = await chat.get(MESSAGES, chat.other, after=seen.id)
    assert status == 403


async def test_delete_rules(chat, room):
    first = await chat.post(room, chat.student, "first")
    last = await chat.post(room, chat.student, "last")
    resp = await chat.client.delete(f"{MESSAGES}/{last.id}", headers=chat.tutor.headers)
    body = await resp.json()
    assert resp.status == 403 and body["message"] == "errMsg_NotMessageSender"

    resp = await chat.client.delete(f"/v1/v1/chat-messages/{last.id}", headers=chat.student.headers)
    body = await resp.json()
    assert resp.status == 200 and body["action"] == "delete"
    assert body["chatMessage"]["isActive"] is False and body["chatMessage"]["recordVersion"] == 2
    # The preview falls back to the newest remaining message.
    _, conv = await chat.get(f"/v1/conversations/{room}", chat.student)
    assert conv["conversation"]["lastMessagePreview"] == "first"
    resp = await chat.client.delete(f"{MESSAGES}/{last.id}", headers=chat.student.headers)
    assert resp.status == 404  # final
    # Admins delete anything; then the room has no preview.
    resp = await chat.client.delete(f"{MESSAGES}/{first.id}", headers=chat.admin.headers)
    assert resp.status == 200
    _, conv = await chat.get(f"/v1/conversations/{room}", chat.student)
    assert conv["conversation"]["lastMessagePreview"] is None and conv["conversation"]["lastMessageAt"] is None

    # Warnings: only admins delete them, not their recipient.
    notice = (await chat.room("adminTutor"))["id"]
    warning = await chat.post(notice, chat.admin, "", message_type="warning", content={"text": "x", "severity": "info"})
    resp = await chat.client.delete(f"{MESSAGES}/{warning.id}", headers=chat.tutor.headers)
    assert resp.status == 403


async def test_update_rules(chat, room):
    message = await chat.post(room, chat.student, "typo")
    url = f"{MESSAGES}/{message.id}"
    resp = await chat.client.patch(url, json={"content": {"text": "fixed"}}, headers=chat.student.headers)
    body = await resp.json()
    assert resp.status == 200 and body["chatMessage"]["content"] == {"text": "fixed"} and body["action"] == "update"
    _, conv = await chat.get(f"/v1/conversations/{room}", chat.tutor)
    assert conv["conversation"]["lastMessagePreview"] == "fixed"

    cases = [
        (chat.tutor, {"content": {"text": "not mine"}}, 403, "errMsg_NotMessageSender"),
        (chat.student, {"status": "approved"}, 403, "errMsg_OnlyAdminsModerate"),
        (chat.student, {"content": {"url": "https://x.test"}}, 400, "errMsg_contentIsNotValid"),
        (chat.student, {"content": {"text": ""}}, 400, "errMsg_contentIsNotValid"),
        (chat.student, {"content": {"text": "x" * 4001}}, 400, "errMsg_contentIsNotValid"),
        (chat.student, {"messageType": "image"}, 400, None),
        (chat.student, {"replyTo": {"id": message.id}}, 400, None),
        (chat.student, {}, 400, None),
        (chat.admin, {"status": "deleted"}, 400, None),
    ]
    for user, payload, status, code in cases:
        resp = await chat.client.patch(url, json=payload, headers=user.headers)
        body = await resp.json()
        assert resp.status == status, (payload, body)
        if code:
            assert body["message"] == code
    resp = await chat.client.patch(url, data=b"{not json", headers=chat.student.headers)
    assert resp.status == 400
    stored = (await chat.stored(room))[0]
    assert stored.content == {"text": "fixed"} and stored.status == "approved" and stored.record_version == 2
    # Admins edit content too.
    resp = await chat.client.patch(url, json={"content": {"text": "moderated"}}, headers=chat.admin.headers)
    assert resp.status == 200


async def test_service_send_rules(chat, room):
    """The checks behind message:send, per role pair (the socket tests cover the wire)."""
    notice = (await chat.room("adminStudent"))["id"]
    staff = (await chat.room("adminTutor"))["id"]

    async def refused(room_id, user, code, **kw):
        with pytest.raises(ApiError) as info:
            await chat.post(room_id, user, "x", **kw)
        assert info.value.message and info.value.code == code, info.value.code

    await chat.post(room, chat.student, "student to tutor")
    await chat.post(room, chat.tutor, "tutor to student")
    await chat.post(notice, chat.admin, "admin to student")
    await refused(notice, chat.student, "errMsg_OneWayConversation")  # one way
    await chat.post(staff, chat.admin, "admin to tutor")
    await chat.post(staff, chat.tutor, "tutor to admin")
    await refused(room, chat.admin, "errMsg_NotAConversationParticipant")  # admins send only where they take part
    await refused(room, chat.other, "errMsg_NotAConversationParticipant")
    await refused(room, chat.student, "errMsg_MessageTypeNotAllowed", message_type="system", content={"text": "x"})
    await refused(room, chat.student, "errMsg_MessageTypeNotAllowed", message_type="warning",
                  content={"text": "x", "severity": "info"})
    await refused(room, chat.student, "errMsg_contentIsNotValid", content={"text": "x", "extra": 1})
    await refused(room, chat.student, "errMsg_replyToNotInRoom", reply_to_id=str(uuid.uuid4()))
    elsewhere = await chat.post(staff, chat.tutor, "other room")
    await refused(room, chat.student, "errMsg_replyToNotInRoom", reply_to_id=elsewhere.id)
    original = await chat.post(room, chat.tutor, "q" * 150)
    reply = await chat.post(room, chat.student, "answer", reply_to_id=original.id)
    assert reply.reply_to == {"id": original.id, "preview": "q" * 100}
    # Same clientMsgId twice (also at once): stored once.
    results = await asyncio.gather(*[chat.post(room, chat.student, "once", client_msg_id="c-1") for _ in range(4)])
    assert len({m.id for m in results}) == 1
    assert sum(1 for m in await chat.stored(room) if m.client_msg_id == "c-1") == 1
    # seq is dense and in commit order.
    assert [m.seq for m in await chat.stored(room)] == list(range(1, len(await chat.stored(room)) + 1))


async def test_closed_conversation_is_read_only_but_readable(chat, room):
    from sqlalchemy import update

    from core.keys import DB
    from plugins.messaging.models import Conversation

    message = await chat.post(room, chat.student, "before")
    async with chat.app[DB].transaction() as session:
        await session.execute(update(Conversation).where(Conversation.id == room).values(status="closed"))
    with pytest.raises(ApiError) as info:
        await chat.post(room, chat.tutor, "after")
    assert info.value.code == "errMsg_ConversationClosed"
    resp = await chat.client.patch(f"{MESSAGES}/{message.id}", json={"content": {"text": "edit"}}, headers=chat.student.headers)
    assert resp.status == 400
    _, body = await chat.get(MESSAGES, chat.tutor, roomId=room)
    assert [m["id"] for m in body["chatMessages"]] == [message.id]
    from plugins.messaging import services

    state, _, moved = await services.mark_read(chat.app, actor(chat.tutor), room, message.id)
    assert moved and state.last_read_message_id == message.id


async def test_closed_conversation_refuses_deletes_by_members_but_not_admins(chat, room):
    """A closed conversation is read-only (§2.5): its members' deletes are refused like their edits."""
    from sqlalchemy import update

    from core.keys import DB
    from plugins.messaging.models import Conversation

    message = await chat.post(room, chat.student, "keep me")
    async with chat.app[DB].transaction() as session:
        await session.execute(update(Conversation).where(Conversation.id == room).values(status="closed"))
    resp = await chat.client.delete(f"{MESSAGES}/{message.id}", headers=chat.student.headers)
    body = await resp.json()
    assert resp.status == 400 and body["message"] == "errMsg_ConversationClosed"
    stored = (await chat.stored(room))[0]
    assert stored.is_active is True and stored.record_version == 1
    _, conv = await chat.get(f"/v1/conversations/{room}", chat.student)
    assert conv["conversation"]["lastMessagePreview"] == "keep me"
    # Admins still moderate a closed room.
    resp = await chat.client.delete(f"/v1/v1/chat-messages/{message.id}", headers=chat.admin.headers)
    assert resp.status == 200 and (await resp.json())["chatMessage"]["isActive"] is False


async def test_seed_doubled_paths_serve_edit_and_delete_too(chat, room):
    message = await chat.post(room, chat.student, "via the seed path")
    resp = await chat.client.patch(f"/v1/v1/chat-messages/{message.id}", json={"content": {"text": "edited"}},
                                   headers=chat.student.headers)
    body = await resp.json()
    assert resp.status == 200 and body["dataName"] == "chatMessage" and body["rowCount"] == 1
    assert body["chatMessage"]["content"] == {"text": "edited"}
    resp = await chat.client.patch(f"/v1/v1/chat-messages/{message.id}", json={"status": "rejected"},
                                   headers=chat.student.headers)
    assert resp.status == 403
    assert (await chat.stored(room))[0].status == "approved"

"""M4: warnings from admins, over HTTP for machine callers and in process for other plugins."""

from __future__ import annotations

import uuid

import pytest
from chat_world import FAST, PLUGINS, make_chat
from sqlalchemy import select, update

from core.errors import ApiError
from core.keys import DB
from plugins.messaging import services
from plugins.messaging.models import Conversation

URL = "/v1/sendsystemmessage"


async def test_api_token_sends_a_warning_into_the_admin_conversation(chat):
    token = await chat.kit.api_token(chat.client, chat.admin)
    headers = {"apiToken": token}
    payload = {"targetUserId": chat.student.id, "targetUserRole": "student", "messageContent": "Please be respectful.",
               "resolutionType": "warn", "complaintId": "issue-7"}
    resp = await chat.client.post(URL, json=payload, headers=headers)
    body = await resp.json()
    assert resp.status == 201, body
    assert body["dataName"] == "conversation" and body["action"] == "create"
    conv = body["conversation"]
    assert conv["conversationType"] == "adminStudent" and conv["participantA"] == chat.admin.id
    assert conv["participantB"] == chat.student.id and conv["lastMessagePreview"] == "Please be respectful."

    status, listed = await chat.get("/v1/chat-messages", chat.student, roomId=conv["id"])
    assert status == 200
    [warning] = listed["chatMessages"]
    assert warning["messageType"] == "warning" and warning["senderId"] == chat.admin.id
    assert warning["content"] == {"text": "Please be respectful.", "severity": "warning", "resolutionType": "warn",
                                  "complaintId": "issue-7"}
    # A second warning reuses the conversation, also when it is closed (its status is kept).
    async with chat.app[DB].transaction() as session:
        await session.execute(update(Conversation).where(Conversation.id == conv["id"]).values(status="closed"))
    resp = await chat.client.post(URL, json={**payload, "messageContent": "Last warning.", "severity": "critical"},
                                  headers=headers)
    body = await resp.json()
    assert resp.status == 201 and body["conversation"]["id"] == conv["id"] and body["conversation"]["status"] == "closed"
    _, listed = await chat.get("/v1/chat-messages", chat.student, roomId=conv["id"])
    assert [m["content"]["text"] for m in listed["chatMessages"]] == ["Last warning.", "Please be respectful."]
    # The tutor target gets an adminTutor conversation.
    resp = await chat.client.post(URL, json={**payload, "targetUserId": chat.tutor.id, "targetUserRole": "tutor"},
                                  headers=headers)
    assert resp.status == 201 and (await resp.json())["conversation"]["conversationType"] == "adminTutor"


async def test_system_message_is_for_machine_callers_only(chat):
    payload = {"targetUserId": chat.student.id, "targetUserRole": "student", "messageContent": "x"}
    resp = await chat.client.post(URL, json=payload)
    assert resp.status == 401
    for user in (chat.admin, chat.student, chat.tutor):
        resp = await chat.client.post(URL, json=payload, headers=user.headers)
        assert resp.status == 403, user.role
    async with chat.app[DB].session() as session:
        assert (await session.scalars(select(Conversation))).first() is None


async def test_system_message_validation(chat):
    headers = {"apiToken": await chat.kit.api_token(chat.client, chat.admin)}
    base = {"targetUserId": chat.student.id, "targetUserRole": "student", "messageContent": "x"}
    cases = [
        ({"targetUserRole": "tutor"}, 400, "errMsg_targetUserRoleDoesNotMatch"),
        ({"targetUserRole": "admin"}, 400, None),
        ({"severity": "loud"}, 400, None),
        ({"resolutionType": "delete"}, 400, None),
        ({"messageContent": "   "}, 400, None),
        ({"targetUserId": str(uuid.uuid4())}, 404, "errMsg_UserNotFound"),
        ({"targetUserId": "nope"}, 400, "errMsg_targetUserIdisNotAValidID"),
    ]
    for change, status, code in cases:
        resp = await chat.client.post(URL, json={**base, **change}, headers=headers)
        body = await resp.json()
        assert resp.status == status, (change, body)
        if code:
            assert body["message"] == code
    async with chat.app[DB].session() as session:
        assert (await session.scalars(select(Conversation))).first() is None


async def test_in_process_service_uses_the_configured_system_admin(kit):
    client = await kit.client(PLUGINS, messaging=FAST)
    chat = await make_chat(kit, client)
    with pytest.raises(ApiError) as info:  # no acting admin and none configured
        await services.send_system_message(chat.app, target_user_id=chat.tutor.id, target_user_role="tutor",
                                           message_content="hello")
    assert info.value.code == "errMsg_NoSystemAdmin"

    client2 = await kit.client(PLUGINS, messaging={**FAST, "system_admin_id": chat.admin.id})
    conv, message = await services.send_system_message(
        client2.app, target_user_id=chat.tutor.id, target_user_role="tutor", message_content="Profile needs edits.",
        resolution_type="requireEdit",
    )
    assert conv.conversation_type == "adminTutor" and conv.participant_a == chat.admin.id
    assert message.message_type == "warning" and message.content["resolutionType"] == "requireEdit"
    assert message.sender_name == "Ada Admin"
    # The recipient can answer in adminTutor (both ways)...
    await chat.post(conv.id, chat.tutor, "Will do.")
    # ...and gets an in-app notification, stored with the message.
    from core.notifications.models import Notification

    async with chat.app[DB].session() as session:
        notes = list(await session.scalars(select(Notification).where(Notification.user_id == chat.tutor.id)))
    assert [n.type for n in notes] == ["messaging.warning"] and notes[0].data["conversationId"] == conv.id


async def test_a_system_message_that_fails_leaves_no_empty_conversation(chat, monkeypatch):
    """M4 is one operation: opening the admin conversation and storing the warning commit together."""
    from plugins.messaging.models import ChatMessage

    async def broken(*args, **kwargs):
        raise RuntimeError("notification store down")

    monkeypatch.setattr(services, "_notify_warning", broken)
    with pytest.raises(RuntimeError):
        await services.send_system_message(chat.app, target_user_id=chat.student.id, target_user_role="student",
                                           message_content="Be kind.", admin_id=chat.admin.id)
    async with chat.app[DB].session() as session:
        assert (await session.scalars(select(Conversation))).first() is None
        assert (await session.scalars(select(ChatMessage))).first() is None
    # With the store back, the same call opens the conversation and stores the warning once.
    monkeypatch.undo()
    conv, message = await services.send_system_message(chat.app, target_user_id=chat.student.id,
                                                       target_user_role="student", message_content="Be kind.",
                                                       admin_id=chat.admin.id)
    assert message.room_id == conv.id and conv.conversation_type == "adminStudent"
    assert [m.id for m in await chat.stored(conv.id)] == [message.id]


async def test_simultaneous_system_messages_share_one_new_conversation(chat):
    import asyncio

    results = await asyncio.gather(*[
        services.send_system_message(chat.app, target_user_id=chat.tutor.id, target_user_role="tutor",
                                     message_content=f"notice {i}", admin_id=chat.admin.id)
        for i in range(4)
    ])
    assert len({conv.id for conv, _ in results}) == 1
    stored = await chat.stored(results[0][0].id)
    assert sorted(m.content["text"] for m in stored) == [f"notice {i}" for i in range(4)]
    assert [m.seq for m in stored] == [1, 2, 3, 4]
    async with chat.app[DB].session() as session:
        assert len(list(await session.scalars(select(Conversation)))) == 1

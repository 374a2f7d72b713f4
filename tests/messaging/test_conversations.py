"""M1-M3: who may open which conversation, the duplicate rule, membership on reads, the inbox."""

from __future__ import annotations

import asyncio
import uuid

from chat_world import FAST, PLUGINS, make_chat
from chat_world import user as make_user
from messaging_fakes import installed_with
from sqlalchemy import func, select

from core.keys import DB
from core.plugins import installed_plugins
from plugins.messaging.models import Conversation


async def create(chat, by, kind, a, b, **extra):
    resp = await chat.client.post(
        "/v1/conversations",
        json={"conversationType": kind, "participantA": a.id if hasattr(a, "id") else a,
              "participantB": b.id if hasattr(b, "id") else b, **extra},
        headers=by.headers,
    )
    return resp.status, await resp.json()


async def test_student_opens_student_tutor_conversation_and_duplicates_return_it(chat):
    status, body = await create(chat, chat.student, "studentTutor", chat.student, chat.tutor,
                                participantAName="Spoofed", lastMessagePreview="spoof", enrollmentId="enr-1")
    assert status == 201, body
    assert body["status"] == "OK" and body["dataName"] == "conversation" and body["action"] == "create"
    conv = body["conversation"]
    assert conv["conversationType"] == "studentTutor" and conv["conversationType_idx"] == 0
    assert conv["status"] == "active" and conv["status_idx"] == 0
    assert conv["participantAName"] == "Sam Student" and conv["participantBName"] == "Tia Tutor"  # server wins
    assert conv["lastMessagePreview"] is None and conv["lastMessageAt"] is None
    assert conv["enrollmentId"] == "enr-1" and conv["isActive"] is True and conv["recordVersion"] == 1
    assert conv["_owner"] == chat.student.id

    for by in (chat.student, chat.tutor, chat.admin):
        status, again = await create(chat, by, "studentTutor", chat.student, chat.tutor)
        assert status == 200 and again["conversation"]["id"] == conv["id"]


async def test_simultaneous_creates_make_one_conversation(chat):
    results = await asyncio.gather(*[
        create(chat, by, "studentTutor", chat.student, chat.tutor) for by in (chat.student, chat.tutor) * 4
    ])
    ids = {body["conversation"]["id"] for _, body in results}
    assert len(ids) == 1
    assert sorted(status for status, _ in results).count(201) == 1
    async with chat.app[DB].session() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1


async def test_who_may_open_which_conversation(chat):
    s, t, a, o = chat.student, chat.tutor, chat.admin, chat.other
    # A student never opens an admin conversation; a tutor neither.
    assert (await create(chat, s, "adminStudent", a, s))[0] == 403
    assert (await create(chat, t, "adminTutor", a, t))[0] == 403
    # Someone else's studentTutor conversation.
    status, body = await create(chat, o, "studentTutor", s, t)
    assert status == 403 and body["message"] == "errMsg_NotAllowedToCreateConversation"
    # Admin conversations: the admin is participantA, and B has the right role.
    assert (await create(chat, a, "adminStudent", a, s))[0] == 201
    assert (await create(chat, a, "adminTutor", a, t))[0] == 201
    other_admin = await make_user(chat.kit, chat.client, "admin")
    status, body = await create(chat, a, "adminStudent", other_admin, s)
    assert status == 400 and body["message"] == "errMsg_participantAMustBeYou"
    status, body = await create(chat, a, "adminStudent", a, t)
    assert status == 400 and body["message"] == "errMsg_participantBMustBeAStudent"
    status, body = await create(chat, a, "adminTutor", a, s)
    assert status == 400 and body["message"] == "errMsg_participantBMustBeATutor"
    # studentTutor: A the student, B the tutor; admins may open it too.
    status, body = await create(chat, t, "studentTutor", t, s)
    assert status == 400 and body["message"] == "errMsg_participantAMustBeAStudent"
    assert (await create(chat, a, "studentTutor", o, t))[0] == 201


async def test_conversation_input_is_validated(chat):
    s, t = chat.student, chat.tutor
    status, body = await create(chat, s, "studentTutor", s, s)
    assert status == 400 and body["message"] == "errMsg_ParticipantsMustDiffer"
    status, body = await create(chat, s, "studentTutor", s, "not-an-id")
    assert status == 400 and body["message"] == "errMsg_participantBisNotAValidID"
    status, body = await create(chat, s, "studentTutor", s, str(uuid.uuid4()))
    assert status == 400 and body["message"] == "errMsg_participantBNotFound"
    status, body = await create(chat, s, "groupChat", s, t)
    assert status == 400 and body["result"] == "ERR"
    resp = await chat.client.post("/v1/conversations", json={"conversationType": "studentTutor"}, headers=s.headers)
    assert resp.status == 400
    resp = await chat.client.post("/v1/conversations", json={"conversationType": "studentTutor", "participantA": s.id,
                                                            "participantB": t.id})
    assert resp.status == 401
    async with chat.app[DB].session() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0


async def test_suspended_participant_cannot_be_added(chat):
    from sqlalchemy import update

    from core.auth.models import User

    async with chat.app[DB].transaction() as session:
        await session.execute(update(User).where(User.id == chat.tutor.id).values(account_status="suspended"))
    status, body = await create(chat, chat.student, "studentTutor", chat.student, chat.tutor)
    assert status == 400 and body["message"] == "errMsg_participantBIsNotActive"


async def test_get_conversation_members_and_admins_only(chat):
    conv = await chat.room()
    for user in (chat.student, chat.tutor, chat.admin):
        status, body = await chat.get(f"/v1/conversations/{conv['id']}", user)
        assert status == 200 and body["conversation"]["id"] == conv["id"]
        assert body["conversation"]["enrollment"] is None  # no plugin supplies the join
    status, body = await chat.get(f"/v1/conversations/{conv['id']}", chat.other)
    assert status == 403 and body["message"] == "errMsg_NotAConversationParticipant"
    assert "conversation" not in body
    status, body = await chat.get(f"/v1/conversations/{uuid.uuid4()}", chat.student)
    assert status == 404 and body["message"] == "errMsg_ConversationNotFound"
    status, body = await chat.get("/v1/conversations/nope", chat.student)
    assert status == 400 and body["message"] == "errMsg_conversationIdisNotAValidID"


async def test_my_conversations_lists_own_newest_first_with_unread_counts(chat):
    older = await chat.room()
    notice = await chat.room("adminStudent")
    await chat.room("adminTutor")  # the student is not in this one
    chat.kit.clock.advance(seconds=10)
    await chat.post(older["id"], chat.tutor, "hello")
    chat.kit.clock.advance(seconds=10)
    await chat.post(notice["id"], chat.admin, "warning", message_type="warning",
                    content={"text": "be nice", "severity": "warning"})
    await chat.post(notice["id"], chat.admin, "again", message_type="warning",
                    content={"text": "really", "severity": "info"})

    status, body = await chat.get("/v1/myconversations", chat.student)
    assert status == 200 and body["dataName"] == "conversations"
    items = body["conversations"]
    assert [c["id"] for c in items] == [notice["id"], older["id"]]
    assert [c["unreadCount"] for c in items] == [2, 1]
    assert items[0]["lastMessagePreview"] == "really"
    assert body["paging"] == {"pageNumber": 1, "pageRowCount": 25, "totalRowCount": 2, "pageCount": 1}

    status, body = await chat.get("/v1/myconversations", chat.student, conversationType="studentTutor")
    assert [c["id"] for c in body["conversations"]] == [older["id"]]
    status, body = await chat.get("/v1/myconversations", chat.student, pageRowCount="1", pageNumber="2")
    assert [c["id"] for c in body["conversations"]] == [older["id"]] and body["paging"]["pageCount"] == 2
    status, body = await chat.get("/v1/myconversations", chat.student, pageRowCount="0")
    assert status == 400
    status, body = await chat.get("/v1/myconversations", chat.student, status="archived")
    assert status == 400
    # Admins see only their own here.
    status, body = await chat.get("/v1/myconversations", chat.admin)
    assert len(body["conversations"]) == 2
    status, body = await chat.get("/v1/myconversations", chat.other)
    assert body["conversations"] == [] and body["paging"]["totalRowCount"] == 0


async def test_check_hook_can_veto_and_fill_course_title(kit):
    client = await kit.client(PLUGINS + ["vetoer"], installed=installed_with(vetoer="messaging_fakes:Vetoer"),
                              messaging=FAST)
    chat = await make_chat(kit, client)
    status, body = await create(chat, chat.student, "studentTutor", chat.student, chat.tutor)
    assert status == 400 and body["message"] == "errMsg_ConversationNotAllowed"
    assert body["detail"] == "Needs a valid enrollment."
    status, body = await create(chat, chat.student, "studentTutor", chat.student, chat.tutor, enrollmentId="good")
    assert status == 201 and body["conversation"]["courseTitle"] == "Algebra I"
    status, body = await chat.get(f"/v1/conversations/{body['conversation']['id']}", chat.student)
    assert body["conversation"]["enrollment"] == {"coursePackId": "cp-1", "studentId": "st-1", "tutorProfileId": "tp-1"}


def test_messaging_is_installed():
    assert "messaging" in installed_plugins()

"""The realtime protocol over real WebSockets (aiohttp test client) on one app."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import WSMsgType
from chat_world import FAST, PLUGINS, Socket, make_chat

from core.keys import DB
from plugins.messaging.hub import HUB

WS = "/v1/chat/ws"


async def test_handshake_needs_a_valid_token(chat):
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await chat.client.ws_connect(WS)
    assert info.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await chat.client.ws_connect(WS, headers={"Authorization": "Bearer nonsense"})
    assert info.value.status == 401
    # Browsers put the token in the query string.
    ws = await chat.client.ws_connect(f"{WS}?access_token={chat.student.token}")
    sock = Socket(ws)
    ref = await sock.send("ping")
    assert await sock.expect("pong", ref=ref) == {}
    await ws.close()


async def test_two_clients_exchange_messages_typing_and_read_receipts(chat):
    room = (await chat.room())["id"]
    student, tutor = await chat.connect(chat.student), await chat.connect(chat.tutor)
    joined = await student.join(room)
    assert joined["roomId"] == room and joined["conversation"]["id"] == room
    assert joined["readStates"] == [] and joined["moderation"] == []
    await tutor.join(room)

    ref = await student.send("message:send", {"roomId": room, "messageType": "text", "content": {"text": "Hi!"},
                                              "clientMsgId": "m-1"})
    ack = await student.expect("message:ack", ref=ref)
    assert ack["ref"] == ref and ack["clientMsgId"] == "m-1"
    message = ack["message"]
    assert message["content"] == {"text": "Hi!"} and message["senderId"] == chat.student.id
    new = await tutor.expect("message:new")
    assert new["message"] == message
    await student.silent("message:new")  # the sender got the ack instead
    # Both inboxes are told, with their own unread counts.
    assert (await tutor.expect("conversation:updated"))["unreadCount"] == 1
    assert (await student.expect("conversation:updated"))["unreadCount"] == 0

    # Typing reaches the other member only.
    await tutor.send("typing:start", {"roomId": room})
    assert await student.expect("typing", isTyping=True) == {"roomId": room, "userId": chat.tutor.id, "isTyping": True}
    await tutor.silent("typing")
    await tutor.send("typing:stop", {"roomId": room})
    assert (await student.expect("typing", isTyping=False))["userId"] == chat.tutor.id

    # Read receipt: stored, broadcast to the sender, and the reader's unread count drops.
    await tutor.send("message:read", {"roomId": room, "messageId": message["id"]})
    read = await student.expect("message:read")
    assert read["roomId"] == room and read["userId"] == chat.tutor.id and read["messageId"] == message["id"]
    assert read["readAt"]
    assert (await tutor.expect("conversation:updated"))["unreadCount"] == 0
    await tutor.silent("message:read")
    status, body = await chat.get("/v1/myconversations", chat.tutor)
    assert body["conversations"][0]["unreadCount"] == 0
    # A fresh join shows the stored read state.
    again = await student.join(room)
    assert again["readStates"] == [{"userId": chat.tutor.id, "lastReadMessageId": message["id"], "lastReadAt": read["readAt"]}]

    # The reply direction works too, and replyTo carries a preview.
    reply = await tutor.say(room, "Hello back", replyTo={"id": message["id"]})
    assert reply["replyTo"] == {"id": message["id"], "preview": "Hi!"}
    assert (await student.expect("message:new"))["message"]["id"] == reply["id"]


async def test_inbox_updates_reach_users_who_did_not_join_the_room(chat):
    room = (await chat.room())["id"]
    student, tutor = await chat.connect(chat.student), await chat.connect(chat.tutor)
    await student.join(room)
    await student.say(room, "are you there?")
    update = await tutor.expect("conversation:updated")
    assert update["conversation"]["lastMessagePreview"] == "are you there?" and update["unreadCount"] == 1
    await tutor.silent("message:new")  # not in the room


async def test_bad_frames_get_error_frames_and_the_socket_stays_usable(chat):
    room = (await chat.room())["id"]
    sock = await chat.connect(chat.other)
    await sock.ws.send_str("{not json")
    err = await sock.expect("error")
    assert err["code"] == 400 and err["message"] == "errMsg_InvalidJson"
    await sock.ws.send_str("[1, 2]")
    assert (await sock.expect("error"))["message"] == "errMsg_InvalidFrame"
    await sock.ws.send_bytes(b"\x00\x01")
    assert (await sock.expect("error"))["message"] == "errMsg_InvalidFrame"
    ref = await sock.send("message:teleport", {"roomId": room})
    assert (await sock.error(ref))["message"] == "errMsg_UnknownEvent"
    ref = await sock.send("message:send", {"content": {"text": "no room"}})
    err = await sock.error(ref)
    assert err["code"] == 400 and err["message"] == "errMsg_InvalidFrame" and err["ref"] == ref
    ref = await sock.send("room:join", {"roomId": "not-a-uuid"})
    assert (await sock.error(ref))["message"] == "errMsg_roomIdisNotAValidID"
    # Not a member: refused everywhere, and no room subscription is made.
    ref = await sock.send("room:join", {"roomId": room})
    err = await sock.error(ref)
    assert err["code"] == 403 and err["message"] == "errMsg_NotAConversationParticipant"
    ref = await sock.send("message:send", {"roomId": room, "content": {"text": "let me in"}})
    assert (await sock.error(ref))["code"] == 403
    ref = await sock.send("typing:start", {"roomId": room})
    assert (await sock.error(ref))["code"] == 403
    ref = await sock.send("moderation:apply", {"roomId": room, "userId": chat.student.id, "action": "blocked"})
    assert (await sock.error(ref))["code"] == 403
    assert await chat.stored(room) == []
    # Still open and answering.
    ref = await sock.send("ping")
    await sock.expect("pong", ref=ref)
    # And content rules over the wire.
    member = await chat.connect(chat.student)
    ref = await member.send("message:send", {"roomId": room, "messageType": "system", "content": {"text": "x"}})
    assert (await member.error(ref))["message"] == "errMsg_MessageTypeNotAllowed"
    ref = await member.send("message:send", {"roomId": room, "messageType": "image", "content": {"url": "ftp://x"}})
    err = await member.error(ref)
    assert err["message"] == "errMsg_contentIsNotValid" and "url" in err["detail"]


async def test_admin_student_conversation_is_one_way(chat):
    notice = (await chat.room("adminStudent"))["id"]
    admin, student = await chat.connect(chat.admin), await chat.connect(chat.student)
    await admin.join(notice)
    await student.join(notice)
    ref = await admin.send("message:send", {"roomId": notice, "messageType": "warning",
                                            "content": {"text": "Final notice", "severity": "critical"}})
    warning = (await admin.expect("message:ack", ref=ref))["message"]
    assert (await student.expect("message:new"))["message"]["id"] == warning["id"]
    ref = await student.send("message:send", {"roomId": notice, "content": {"text": "but..."}})
    err = await student.error(ref)
    assert err["code"] == 403 and err["message"] == "errMsg_OneWayConversation"
    ref = await student.send("typing:start", {"roomId": notice})
    assert (await student.error(ref))["code"] == 403
    # The student may still acknowledge reading it, and the admin sees that.
    await student.send("message:read", {"roomId": notice, "messageId": warning["id"]})
    assert (await admin.expect("message:read"))["userId"] == chat.student.id


async def test_a_message_survives_a_socket_dropped_mid_send(chat):
    room = (await chat.room())["id"]
    tutor = await chat.connect(chat.tutor)
    await tutor.join(room)
    for i in range(3):
        ws = await chat.client.ws_connect(WS, headers=chat.student.headers)
        sock = Socket(ws)
        await sock.join(room)
        await sock.send("message:send", {"roomId": room, "content": {"text": f"bye {i}"}, "clientMsgId": f"drop-{i}"})
        await ws.close()  # gone before the ack could arrive
        new = await tutor.expect("message:new")
        assert new["message"]["content"] == {"text": f"bye {i}"}
    await tutor.silent("message:new")
    stored = await chat.stored(room)
    assert [m.content["text"] for m in stored] == ["bye 0", "bye 1", "bye 2"]  # each exactly once
    # A client that lost the ack resends with the same clientMsgId: acked with the stored message, not stored again.
    student = await chat.connect(chat.student)
    await student.join(room)
    ref = await student.send("message:send", {"roomId": room, "content": {"text": "bye 2"}, "clientMsgId": "drop-2"})
    ack = await student.expect("message:ack", ref=ref)
    assert ack["message"]["id"] == stored[2].id
    await tutor.silent("message:new")
    assert len(await chat.stored(room)) == 3


async def test_resync_after_reconnect_returns_exactly_the_missed_messages(chat):
    room = (await chat.room())["id"]
    student, tutor = await chat.connect(chat.student), await chat.connect(chat.tutor)
    await student.join(room)
    await tutor.join(room)
    first = await student.say(room, "one")
    last_seen = (await tutor.expect("message:new"))["message"]["id"]
    assert last_seen == first["id"]
    await tutor.ws.close()
    missed = [await student.say(room, f"missed {i}") for i in range(4)]
    tutor = await chat.connect(chat.tutor)
    await tutor.join(room)
    status, body = await chat.get("/v1/chat-messages", chat.tutor, conversationId=room, after=last_seen)
    assert status == 200 and [m["id"] for m in body["chatMessages"]] == [m["id"] for m in missed]
    after_reconnect = await student.say(room, "live again")
    assert (await tutor.expect("message:new"))["message"]["id"] == after_reconnect["id"]


async def test_typing_is_throttled_and_auto_stops(kit):
    client = await kit.client(PLUGINS, messaging={**FAST, "typing_throttle_seconds": 60, "typing_timeout_seconds": 0.3})
    chat = await make_chat(kit, client)
    room = (await chat.room())["id"]
    student, tutor = await chat.connect(chat.student), await chat.connect(chat.tutor)
    await tutor.join(room)
    for _ in range(3):
        await student.send("typing:start", {"roomId": room})
    await tutor.expect("typing", isTyping=True)
    await tutor.silent("typing", wait=0.1, isTyping=True)  # the refreshes were not re-broadcast
    stopped = await tutor.expect("typing", isTyping=False, within=2)
    assert stopped["userId"] == chat.student.id


async def test_sending_is_rate_limited_per_user(kit):
    client = await kit.client(PLUGINS, messaging={**FAST, "messages_per_second": 2})
    chat = await make_chat(kit, client)
    room = (await chat.room())["id"]
    student = await chat.connect(chat.student)
    refs = [await student.send("message:send", {"roomId": room, "content": {"text": f"m{i}"}}) for i in range(3)]
    await student.expect("message:ack", ref=refs[0])
    await student.expect("message:ack", ref=refs[1])
    err = await student.error(refs[2])
    assert err["code"] == 429 and err["message"] == "errMsg_TooManyMessages"
    assert len(await chat.stored(room)) == 2


async def test_moderation_silence_block_and_lift(chat):
    room = (await chat.room())["id"]
    admin, student, tutor = await chat.connect(chat.admin), await chat.connect(chat.student), await chat.connect(chat.tutor)
    for sock in (admin, student, tutor):
        await sock.join(room)
    # Only admins moderate, and only participants can be moderated.
    ref = await tutor.send("moderation:apply", {"roomId": room, "userId": chat.student.id, "action": "silenced"})
    assert (await tutor.error(ref))["code"] == 403
    ref = await admin.send("moderation:apply", {"roomId": room, "userId": chat.other.id, "action": "silenced"})
    assert (await admin.error(ref))["message"] == "errMsg_userIdIsNotAParticipant"

    await admin.send("moderation:apply", {"roomId": room, "userId": chat.student.id, "action": "silenced",
                                          "reason": "spam", "duration": 60})
    applied = await student.expect("moderation:applied")
    assert applied["action"] == "silenced" and applied["userId"] == chat.student.id and applied["expiresAt"]
    assert (await admin.expect("moderation:applied"))["action"] == "silenced"  # the room's admins
    await tutor.silent("moderation:applied")
    ref = await student.send("message:send", {"roomId": room, "content": {"text": "still here"}})
    assert (await student.error(ref))["message"] == "errMsg_SilencedInRoom"
    # Silenced users still read.
    await tutor.say(room, "you can read this")
    await student.expect("message:new")
    # The silence ends when it expires.
    chat.kit.clock.advance(seconds=61)
    await student.say(room, "back")

    # Block: the blocked user's sockets leave the room and can neither rejoin nor read.
    await admin.send("moderation:apply", {"roomId": room, "userId": chat.student.id, "action": "blocked"})
    assert (await student.expect("moderation:applied"))["expiresAt"] is None  # permanent
    await tutor.say(room, "secret")
    await student.silent("message:new")
    ref = await student.send("room:join", {"roomId": room})
    assert (await student.error(ref))["message"] == "errMsg_BlockedInRoom"
    status, body = await chat.get("/v1/chat-messages", chat.student, roomId=room)
    assert status == 403
    status, body = await chat.get("/v1/chat-messages", chat.student)
    assert body["chatMessages"] == []

    await admin.send("moderation:lift", {"roomId": room, "userId": chat.student.id})
    assert (await student.expect("moderation:lifted"))["action"] == "blocked"
    await student.join(room)
    await student.say(room, "thanks")
    ref = await admin.send("moderation:lift", {"roomId": room, "userId": chat.student.id})
    assert (await admin.error(ref))["code"] == 404


async def test_rest_edits_and_deletes_reach_the_room(chat):
    room = (await chat.room())["id"]
    admin, student, tutor = await chat.connect(chat.admin), await chat.connect(chat.student), await chat.connect(chat.tutor)
    for sock in (admin, student, tutor):
        await sock.join(room)
    message = await student.say(room, "draft")
    url = f"/v1/chat-messages/{message['id']}"
    resp = await chat.client.patch(url, json={"content": {"text": "final"}}, headers=chat.student.headers)
    assert resp.status == 200
    for sock in (admin, student, tutor):
        assert (await sock.expect("message:updated"))["message"]["content"] == {"text": "final"}
    # Rejected: admins and the sender see the update; the other member sees it disappear.
    resp = await chat.client.patch(url, json={"status": "rejected"}, headers=chat.admin.headers)
    assert resp.status == 200
    assert (await admin.expect("message:updated", within=2))["message"]["status"] == "rejected"
    assert (await student.expect("message:updated"))["message"]["status"] == "rejected"
    assert await tutor.expect("message:deleted") == {"id": message["id"], "roomId": room}
    await tutor.silent("message:updated")
    resp = await chat.client.delete(url, headers=chat.admin.headers)
    assert resp.status == 200
    assert await student.expect("message:deleted") == {"id": message["id"], "roomId": room}


async def test_revoked_session_closes_the_socket_with_4401(chat):
    from core.auth.services import revoke_sessions

    sock = await chat.connect(chat.student)
    keep = await chat.connect(chat.tutor)
    async with chat.app[DB].transaction() as session:
        await revoke_sessions(session, chat.student.id, now=chat.kit.clock.now())
    assert await chat.app[HUB].check_sessions() == 1
    msg = await sock.ws.receive(timeout=3)
    assert msg.type == WSMsgType.CLOSE and msg.data == 4401
    ref = await keep.send("ping")
    await keep.expect("pong", ref=ref)


async def test_shutdown_closes_sockets_with_going_away(kit):
    client = await kit.client(PLUGINS, messaging=FAST)
    chat = await make_chat(kit, client)
    socks = [await chat.connect(chat.student), await chat.connect(chat.tutor)]
    await asyncio.wait_for(client.server.close(), timeout=10)
    for sock in socks:
        msg = await sock.ws.receive(timeout=3)
        assert msg.type == WSMsgType.CLOSE and msg.data == 1001


async def test_account_status_change_closes_the_users_sockets_at_once(chat):
    from sqlalchemy import update

    from core.auth.models import User
    from core.plugins import emit

    sock = await chat.connect(chat.tutor)
    async with chat.app[DB].transaction() as session:
        await session.execute(update(User).where(User.id == chat.tutor.id).values(account_status="suspended"))
    await emit(chat.app, "user.status_changed", {"userId": chat.tutor.id})
    msg = await sock.ws.receive(timeout=3)
    assert msg.type == WSMsgType.CLOSE and msg.data == 4401
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await chat.client.ws_connect(WS, headers=chat.tutor.headers)
    assert info.value.status == 401


async def test_a_client_that_stops_reading_is_closed_not_buffered_forever(kit):
    from plugins.messaging.hub import SOCKETS

    client = await kit.client(PLUGINS, messaging={**FAST, "send_queue_size": 8})
    chat = await make_chat(kit, client)
    room = (await chat.room())["id"]
    stuck = await chat.connect(chat.tutor)
    await stuck.join(room)
    [server_side] = [s for s in chat.app[SOCKETS] if s.user_id == chat.tutor.id]
    server_side._writer.cancel()  # the client stops draining: its queue fills up
    student = await chat.connect(chat.student)
    for i in range(12):
        await student.say(room, f"flood {i}")
    while True:
        msg = await stuck.ws.receive(timeout=3)
        if msg.type != WSMsgType.TEXT:
            break
    assert msg.type == WSMsgType.CLOSE and msg.data == 1013
    assert server_side.closing and not server_side.rooms
    assert len(await chat.stored(room)) == 12  # the sender was never held up


async def test_simultaneous_sends_from_both_sides_are_stored_densely_in_order(chat):
    room = (await chat.room())["id"]
    student, tutor = await chat.connect(chat.student), await chat.connect(chat.tutor)

    async def burst(sock, who):
        refs = [await sock.send("message:send", {"roomId": room, "content": {"text": f"{who} {i}"}}) for i in range(10)]
        return [(await sock.expect("message:ack", ref=ref))["message"]["id"] for ref in refs]

    acked = await asyncio.gather(burst(student, "s"), burst(tutor, "t"))
    stored = await chat.stored(room)
    assert [m.seq for m in stored] == list(range(1, 21))
    assert {m.id for m in stored} == set(acked[0]) | set(acked[1])
    status, body = await chat.get("/v1/chat-messages", chat.tutor, conversationId=room, after=stored[0].id,
                                  pageNumber="0")
    assert [m["id"] for m in body["chatMessages"]] == [m.id for m in stored[1:]]


async def test_moderation_reaches_the_user_whichever_channel_is_delivered_first(chat):
    """The room's copy (for admins) must not mark the event seen for the affected user.

    A room pump that is already due to run (a busy room) delivers the room copy of
    `moderation:applied` before the user pump delivers the user's copy; the blocked
    user must still be told and still leave the room.
    """
    from chat_world import actor

    from plugins.messaging import events, services

    room = (await chat.room())["id"]
    student, tutor = await chat.connect(chat.student), await chat.connect(chat.tutor)
    await student.join(room)
    await tutor.join(room)
    row, _ = await services.apply_moderation(
        chat.app, actor(chat.admin), {"roomId": room, "userId": chat.student.id, "action": "blocked", "duration": 0}
    )
    # Published in the same tick, with nothing awaited in between (in-process pub/sub):
    # the room pump wakes first and sees the room copy before the user pump runs.
    await events.typing(chat.app, room, chat.tutor.id, True)
    await events.moderation_applied(chat.app, row)
    applied = await student.expect("moderation:applied")
    assert applied["action"] == "blocked" and applied["userId"] == chat.student.id
    await tutor.say(room, "after the block")
    await student.silent("message:new")

"""Two app instances sharing the database and Redis: realtime events cross instances."""

from __future__ import annotations

from chat_world import FAST, PLUGINS, make_chat, unique_prefix

from core.keys import PUBSUB


async def test_messages_typing_and_reads_cross_instances(kit, redis_url):
    redis = {"url": redis_url, "prefix": unique_prefix()}
    one = await kit.client(PLUGINS, messaging=FAST, redis=redis)
    two = await kit.client(PLUGINS, messaging=FAST, redis=redis)
    assert type(one.app[PUBSUB]).__name__ == "RedisPubSub"
    chat = await make_chat(kit, one)
    room = (await chat.room())["id"]

    student = await chat.connect(chat.student, one)
    tutor = await chat.connect(chat.tutor, two)  # the same user's token works on any instance
    tutor_inbox_only = await chat.connect(chat.tutor, one)
    await student.join(room)
    await tutor.join(room)

    sent = await student.say(room, "across the cluster")
    assert (await tutor.expect("message:new"))["message"]["id"] == sent["id"]
    assert (await tutor_inbox_only.expect("conversation:updated"))["unreadCount"] == 1
    await tutor_inbox_only.silent("message:new")

    reply = await tutor.say(room, "received")
    assert (await student.expect("message:new"))["message"]["id"] == reply["id"]

    await tutor.send("typing:start", {"roomId": room})
    assert (await student.expect("typing", isTyping=True))["userId"] == chat.tutor.id
    await tutor.send("message:read", {"roomId": room, "messageId": sent["id"]})
    assert (await student.expect("message:read"))["messageId"] == sent["id"]

    # REST on instance two reaches a socket on instance one.
    resp = await two.delete(f"/v1/chat-messages/{sent['id']}", headers=chat.student.headers)
    assert resp.status == 200
    assert await tutor.expect("message:deleted") == {"id": sent["id"], "roomId": room}


async def test_another_instance_does_not_see_a_different_prefix(kit, redis_url):
    """Deployments sharing one Redis stay apart by prefix."""
    one = await kit.client(PLUGINS, messaging=FAST, redis={"url": redis_url, "prefix": unique_prefix()})
    two = await kit.client(PLUGINS, messaging=FAST, redis={"url": redis_url, "prefix": unique_prefix()})
    chat = await make_chat(kit, one)
    room = (await chat.room())["id"]
    student = await chat.connect(chat.student, one)
    tutor = await chat.connect(chat.tutor, two)
    await student.join(room)
    await tutor.join(room)
    await student.say(room, "only on my prefix")
    await tutor.silent("message:new", wait=0.5)

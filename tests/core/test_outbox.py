"""Email outbox delivery against a real local SMTP server (core.testing's `smtp_server`)."""

import asyncio
import datetime as dt
import logging

import pytest
from sqlalchemy import select

from core.errors import ConfigError
from core.keys import DB, MAILER
from core.notifications import outbox
from core.notifications.mailer import ConsoleMailer, SmtpMailer
from core.notifications.models import OutboxEmail
from core.notifications.outbox import claim_due, compose, deliver_due
from core.notifications.services import notify, queue_email

SENDER_DOMAIN = "mentorkit.test"


async def _queue(app, count=1, to="reader{}@example.com", **kw):
    async with app[DB].transaction() as session:
        rows = [
            await queue_email(session, to=to.format(i), subject=kw.get("subject", f"Subject {i}"),
                              body=kw.get("body", f"Body {i}"), headers=kw.get("headers"))
            for i in range(count)
        ]
    return [r.id for r in rows]


async def _rows(app):
    async with app[DB].session() as session:
        return {r.id: r for r in (await session.scalars(select(OutboxEmail))).all()}


async def _smtp_client(kit, smtp_server, **email):
    return await kit.client(email={**smtp_server.email_settings, **email})


async def test_delivers_to_smtp_with_stable_message_id_exactly_once(kit, smtp_server):
    client = await _smtp_client(kit, smtp_server)
    app = client.app
    alice = await kit.user(client, "student")
    async with app[DB].transaction() as session:
        await notify(session, user_id=alice.id, type="orderPaid", title="Order paid",
                     body="We received your payment.\nThank you!")
    [plain] = await _queue(app, to="plain@example.com", subject="Plain", body="Hello there",
                           headers={"Reply-To": "help@example.com"})

    assert await deliver_due(app) == 2
    by_to = {str(m["To"]): m for m in smtp_server.messages}
    assert set(by_to) == {alice.email, "plain@example.com"}
    paid = by_to[alice.email]
    assert paid["Subject"] == "Order paid"
    assert paid.get_content().rstrip("\n") == "We received your payment.\nThank you!"
    assert paid["From"] == "Mentorkit <no-reply@mentorkit.test>"
    assert by_to["plain@example.com"]["Reply-To"] == "help@example.com"
    assert by_to["plain@example.com"]["Message-ID"] == f"<{plain}@{SENDER_DOMAIN}>"
    assert by_to["plain@example.com"].get_content().strip() == "Hello there"
    assert [rcpts for _, rcpts in smtp_server.envelopes if rcpts == ["plain@example.com"]]

    rows = await _rows(app)
    for row in rows.values():
        assert row.status == "sent" and row.attempts == 1 and row.last_error is None
        assert row.sent_at == kit.clock.now() and row.locked_until is None and row.next_attempt_at is None
        assert row.message_id == f"<{row.id}@{SENDER_DOMAIN}>"
    assert {str(m["Message-ID"]) for m in smtp_server.messages} == {r.message_id for r in rows.values()}

    kit.clock.advance(days=1)
    assert await deliver_due(app) == 0
    assert len(smtp_server.messages) == 2  # a sent row is never sent again


async def test_outage_delays_but_does_not_lose_mail(kit, smtp_server):
    client = await _smtp_client(kit, smtp_server)
    app = client.app
    [email_id] = await _queue(app)
    smtp_server.stop()

    assert await deliver_due(app) == 0
    row = (await _rows(app))[email_id]
    assert row.status == "pending" and row.attempts == 1 and row.sent_at is None
    assert row.next_attempt_at == kit.clock.now() + outbox.backoff(1) > kit.clock.now()
    assert row.last_error and "password" not in row.last_error.lower()

    # Not due yet: nothing happens, even once the server is back.
    assert await deliver_due(app) == 0
    smtp_server.start()
    assert await deliver_due(app) == 0
    assert smtp_server.messages == [] and (await _rows(app))[email_id].attempts == 1

    # A second failure doubles the wait.
    smtp_server.stop()
    kit.clock.advance(seconds=outbox.backoff(1).total_seconds())
    assert await deliver_due(app) == 0
    row = (await _rows(app))[email_id]
    assert row.attempts == 2 and row.next_attempt_at == kit.clock.now() + outbox.backoff(2)
    assert outbox.backoff(2) == 2 * outbox.backoff(1)

    smtp_server.start()
    kit.clock.advance(seconds=outbox.backoff(2).total_seconds())
    assert await deliver_due(app) == 1
    assert await deliver_due(app) == 0
    kit.clock.advance(hours=2)
    assert await deliver_due(app) == 0
    assert len(smtp_server.messages) == 1
    row = (await _rows(app))[email_id]
    assert row.status == "sent" and row.attempts == 3 and row.last_error is None


async def test_temporary_refusal_is_retried_and_permanent_refusal_fails(kit, smtp_server):
    client = await _smtp_client(kit, smtp_server)
    app = client.app
    [refused] = await _queue(app, to="gone@example.com")
    smtp_server.refuse("gone@example.com")
    smtp_server.tempfail = True
    [later] = await _queue(app, to="later@example.com")

    assert await deliver_due(app) == 0
    rows = await _rows(app)
    assert rows[refused].status == "failed" and rows[refused].attempts == 1  # 550: retrying cannot help
    assert "550" in rows[refused].last_error
    assert rows[later].status == "pending" and "451" in rows[later].last_error

    smtp_server.tempfail = False
    kit.clock.advance(hours=1)
    assert await deliver_due(app) == 1
    assert [str(m["To"]) for m in smtp_server.messages] == ["later@example.com"]


async def test_concurrent_deliveries_send_each_email_exactly_once(kit, smtp_server):
    client = await _smtp_client(kit, smtp_server)
    app = client.app
    ids = await _queue(app, count=8)

    results = await asyncio.gather(*(deliver_due(app, batch_size=1) for _ in range(3)))
    assert sum(results) == 8
    message_ids = [str(m["Message-ID"]) for m in smtp_server.messages]
    assert sorted(message_ids) == sorted(f"<{i}@{SENDER_DOMAIN}>" for i in ids)
    rows = await _rows(app)
    assert all(r.status == "sent" and r.attempts == 1 for r in rows.values())

    # Claims themselves are exclusive: simultaneous claimers never share a row.
    more = await _queue(app, count=6)
    claims = await asyncio.gather(*(claim_due(app, limit=2) for _ in range(4)))
    claimed = [r.id for batch in claims for r in batch]
    assert sorted(claimed) == sorted(more)


async def test_max_attempts_marks_failed_and_logs_an_error(kit, smtp_server, caplog):
    client = await _smtp_client(kit, smtp_server, max_attempts=3, password="s3cret-smtp-pw", username="mk")
    app = client.app
    [email_id] = await _queue(app)
    smtp_server.stop()
    caplog.set_level(logging.WARNING, logger="mentorkit.outbox")

    for attempt in (1, 2):
        assert await deliver_due(app) == 0
        row = (await _rows(app))[email_id]
        assert row.status == "pending" and row.attempts == attempt
        kit.clock.advance(hours=1)
    assert await deliver_due(app) == 0
    row = (await _rows(app))[email_id]
    assert row.status == "failed" and row.attempts == 3 and row.next_attempt_at is None and row.sent_at is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and email_id in errors[0].getMessage()

    smtp_server.start()
    kit.clock.advance(days=30)
    assert await deliver_due(app) == 0
    assert smtp_server.messages == []
    assert "s3cret-smtp-pw" not in caplog.text and "s3cret-smtp-pw" not in row.last_error
    assert "s3cret-smtp-pw" not in repr(app[MAILER])


async def test_crash_between_send_and_mark_resends_only_after_the_lease(kit, smtp_server):
    client = await _smtp_client(kit, smtp_server)
    app = client.app
    [email_id] = await _queue(app)

    # A worker claims the row, sends it, and dies before marking it sent.
    [claimed] = await claim_due(app)
    await app[MAILER].send(compose(claimed, app[MAILER].sender))
    assert len(smtp_server.messages) == 1

    assert await deliver_due(app) == 0  # the lease still holds
    kit.clock.advance(seconds=outbox.lease_for(app, outbox.BATCH_SIZE).total_seconds() - 1)
    assert await deliver_due(app) == 0
    kit.clock.advance(seconds=2)
    assert await deliver_due(app) == 1
    first, second = smtp_server.messages
    assert first["Message-ID"] == second["Message-ID"] == f"<{email_id}@{SENDER_DOMAIN}>"  # receivers can de-duplicate
    assert first["Date"] == second["Date"]
    row = (await _rows(app))[email_id]
    assert row.status == "sent" and row.attempts == 2

    # The dead worker's late bookkeeping cannot overwrite the newer attempt's outcome.
    await outbox._record_failure(app, claimed, RuntimeError("late"), permanent=False)
    assert (await _rows(app))[email_id].status == "sent"


async def test_console_backend_logs_instead_of_sending(kit, caplog):
    client = await kit.client(email={"backend": "console", "password": "never-logged"})
    app = client.app
    assert isinstance(app[MAILER], ConsoleMailer)
    [email_id] = await _queue(app, subject="Console subject", body="Console body")
    caplog.set_level(logging.INFO, logger="mentorkit.email")
    assert await deliver_due(app) == 1
    assert "Console subject" in caplog.text and "Console body" in caplog.text and email_id in caplog.text
    assert "never-logged" not in caplog.text
    assert (await _rows(app))[email_id].status == "sent"


async def test_smtp_settings_are_checked_at_start_up(kit, aiohttp_client):
    app = kit.app(email={"backend": "smtp", "use_tls": True, "start_tls": True})
    with pytest.raises(ConfigError, match="use_tls"):
        await aiohttp_client(app)
    client = await kit.client(email={"backend": "smtp", "host": "mail.example.com", "port": 587,
                                     "start_tls": True, "username": "u", "password": "pw-secret"})
    mailer = client.app[MAILER]
    assert isinstance(mailer, SmtpMailer) and mailer.start_tls and mailer.port == 587
    assert "pw-secret" not in repr(mailer) and "***" in repr(mailer)


def test_backoff_grows_and_is_capped():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert outbox.backoff(50) == outbox.BACKOFF_CAP == dt.timedelta(hours=1)

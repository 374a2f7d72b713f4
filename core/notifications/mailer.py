"""Email backends: `smtp` (aiosmtplib, never blocking the loop) and `console` (logs).

`mailer_ctx` puts the configured backend on `app[MAILER]`. A backend only sends a
ready `EmailMessage`; queueing, retries and idempotency are the outbox's job.
The SMTP password is held privately and appears in no log line, repr or error.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, AsyncIterator, Mapping, Protocol

import aiosmtplib
from aiohttp import web

from ..errors import ConfigError
from ..keys import MAILER, SETTINGS

log = logging.getLogger("mentorkit.email")


class PermanentDeliveryError(Exception):
    """The server refused this message for good (a 5xx reply to the recipient or the
    content): retrying cannot help, so the outbox marks it failed at once."""


class Mailer(Protocol):
    sender: str

    async def send(self, message: EmailMessage) -> None: ...


def sender_domain(sender: str) -> str:
    """The domain of the From address, for Message-IDs; `localhost` if it has none."""
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


class ConsoleMailer:
    """Development backend: writes each email to the log instead of sending it."""

    name = "console"

    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, message: EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        log.info(
            "email (console backend) to=%s subject=%r message-id=%s\n%s",
            message["To"], message["Subject"], message["Message-ID"], text,
        )


class SmtpMailer:
    """One SMTP connection per message: simple, and a broken connection cannot
    take the rest of a batch down with it."""

    name = "smtp"

    def __init__(self, email: Mapping[str, Any]) -> None:
        self.sender = email["sender"]
        self.host = email["host"]
        self.port = email["port"]
        self.username = email["username"] or None
        self._password = email["password"] or None
        self.use_tls = email["use_tls"]
        self.start_tls = email["start_tls"]
        self.timeout = email["timeout"]

    def __repr__(self) -> str:
        return (
            f"SmtpMailer(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"password={'***' if self._password else None}, use_tls={self.use_tls}, start_tls={self.start_tls})"
        )

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if exc.recipients and all(500 <= r.code < 600 for r in exc.recipients):
                refused = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
                raise PermanentDeliveryError(f"recipient refused: {refused}") from exc
            raise
        except aiosmtplib.SMTPDataError as exc:
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(f"message refused: {exc.code} {exc.message}") from exc
            raise


def build_mailer(email: Mapping[str, Any]) -> Mailer:
    if email["backend"] == "console":
        return ConsoleMailer(email["sender"])
    if email["use_tls"] and email["start_tls"]:
        raise ConfigError(["email: use_tls (implicit TLS) and start_tls (STARTTLS) exclude each other; set one"])
    if not parseaddr(email["sender"])[1]:
        raise ConfigError(["email.sender: must be an email address, e.g. 'Mentorkit <no-reply@example.com>'"])
    return SmtpMailer(email)


async def mailer_ctx(app: web.Application) -> AsyncIterator[None]:
    mailer = build_mailer(app[SETTINGS].email)
    app[MAILER] = mailer
    log.debug("email backend: %r", mailer if isinstance(mailer, SmtpMailer) else "console")
    yield

"""Sending e-mail. ``LogEmailer`` (the default) only logs that a message went out, without the
address or the body; ``SmtpEmailer`` hands it to an SMTP relay in a worker thread."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

import structlog

if TYPE_CHECKING:
    from loan_api.config import Settings

log = structlog.get_logger(__name__)


class Emailer(Protocol):
    async def send(self, *, to: str, subject: str, body: str) -> None: ...


def recipient_domain(address: str) -> str:
    return address.rsplit("@", 1)[-1] if "@" in address else "unknown"


class LogEmailer:
    def __init__(self, *, sender: str) -> None:
        self.sender = sender

    async def send(self, *, to: str, subject: str, body: str) -> None:
        log.info(
            "email.sent", backend="log", recipient_domain=recipient_domain(to), subject=subject
        )


class SmtpEmailer:
    def __init__(self, *, sender: str, host: str, port: int, timeout: float = 10.0) -> None:
        self.sender = sender
        self.host = host
        self.port = port
        self.timeout = timeout

    async def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        await asyncio.to_thread(self._send, message)
        log.info(
            "email.sent", backend="smtp", recipient_domain=recipient_domain(to), subject=subject
        )

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(message)


def build_emailer(settings: Settings) -> Emailer:
    if settings.email_backend == "smtp":
        return SmtpEmailer(
            sender=settings.email_from, host=settings.smtp_host, port=settings.smtp_port
        )
    return LogEmailer(sender=settings.email_from)

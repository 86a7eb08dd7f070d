"""Business rules of the notifications module. Public: ``send_invite``, ``was_invited``."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

import structlog
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from loan_api.applications import service as applications
from loan_api.documents import service as documents
from loan_api.notifications import repository
from loan_api.notifications.emailer import Emailer
from loan_api.notifications.exceptions import ApplicationIncomplete, EmailNotSent

INVITE = "invite"

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)


async def send_invite(
    connection: AsyncConnection, *, application_id: UUID, emailer: Emailer, now: datetime
) -> UUID:
    with tracer.start_as_current_span("notifications.send_invite") as span:
        span.set_attribute("application.id", str(application_id))
        counts = await documents.count_documents(connection, application_id=application_id)
        contact = await applications.get_contact(
            connection, application_id=application_id, documents_tagged=counts.tagged
        )
        if not contact.ready_for_invite:
            span.set_attribute("invite.missing_steps", contact.missing_steps)
            raise ApplicationIncomplete(contact.missing_steps)
        notification_id = uuid.uuid4()
        try:
            await emailer.send(
                to=contact.email,
                subject="Your loan application is complete",
                body=f"Hello {contact.first_name},\n\nyour application is complete. "
                "We will be in touch.\n",
            )
        except OSError as exc:
            await repository.insert_notification(
                connection,
                notification_id=notification_id,
                application_id=application_id,
                kind=INVITE,
                status="failed",
                now=now,
            )
            await connection.commit()
            log.warning(
                "invite.failed", application_id=str(application_id), error=type(exc).__name__
            )
            raise EmailNotSent from exc
        await repository.insert_notification(
            connection,
            notification_id=notification_id,
            application_id=application_id,
            kind=INVITE,
            status="sent",
            now=now,
        )
        await connection.commit()
    log.info(
        "invite.sent", application_id=str(application_id), notification_id=str(notification_id)
    )
    return notification_id


async def was_invited(connection: AsyncConnection, *, application_id: UUID) -> bool:
    return await repository.count_sent(connection, application_id=application_id, kind=INVITE) > 0

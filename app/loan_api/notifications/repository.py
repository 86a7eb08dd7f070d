"""SQL of the notifications module."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loan_api.notifications.models import notifications


async def insert_notification(
    connection: AsyncConnection,
    *,
    notification_id: UUID,
    application_id: UUID,
    kind: str,
    status: str,
    now: datetime,
) -> None:
    await connection.execute(
        insert(notifications).values(
            id=notification_id,
            application_id=application_id,
            kind=kind,
            status=status,
            created_at=now,
        )
    )


async def count_sent(connection: AsyncConnection, *, application_id: UUID, kind: str) -> int:
    result = await connection.execute(
        select(func.count(notifications.c.id)).where(
            notifications.c.application_id == application_id,
            notifications.c.kind == kind,
            notifications.c.status == "sent",
        )
    )
    return int(result.scalar_one())

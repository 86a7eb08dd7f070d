"""SQL of the documents module. Every statement names its columns; ``page_count`` is not used
yet (see migration 0003)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loan_api.documents.models import documents

_READ_COLUMNS = (
    documents.c.id,
    documents.c.application_id,
    documents.c.kind,
    documents.c.filename,
    documents.c.content_type,
    documents.c.size_bytes,
    documents.c.sha256,
    documents.c.status,
    documents.c.tags,
    documents.c.failure_reason,
    documents.c.rejection_reason,
    documents.c.tagging_attempts,
    documents.c.created_at,
)


async def insert_document(
    connection: AsyncConnection,
    *,
    document_id: UUID,
    application_id: UUID,
    kind: str,
    filename: str,
    content_type: str,
    content: bytes,
    sha256: str,
    status: str,
    now: datetime,
) -> None:
    await connection.execute(
        insert(documents).values(
            id=document_id,
            application_id=application_id,
            kind=kind,
            filename=filename,
            content_type=content_type,
            size_bytes=len(content),
            sha256=sha256,
            content=content,
            status=status,
            tagging_attempts=0,
            created_at=now,
            updated_at=now,
        )
    )


async def get_document(
    connection: AsyncConnection, *, application_id: UUID, document_id: UUID
) -> dict[str, Any] | None:
    result = await connection.execute(
        select(*_READ_COLUMNS).where(
            documents.c.id == document_id, documents.c.application_id == application_id
        )
    )
    row = result.mappings().one_or_none()
    return dict(row) if row is not None else None


async def get_content(connection: AsyncConnection, document_id: UUID) -> bytes:
    result = await connection.execute(
        select(documents.c.content).where(documents.c.id == document_id)
    )
    content: bytes = result.scalar_one()
    return content


async def list_documents(connection: AsyncConnection, application_id: UUID) -> list[dict[str, Any]]:
    result = await connection.execute(
        select(*_READ_COLUMNS)
        .where(documents.c.application_id == application_id)
        .order_by(documents.c.created_at, documents.c.id)
    )
    return [dict(row) for row in result.mappings()]


async def record_tagging(
    connection: AsyncConnection,
    *,
    document_id: UUID,
    status: str,
    tags: dict[str, Any] | None,
    failure_reason: str | None,
    rejection_reason: str | None,
    now: datetime,
) -> None:
    await connection.execute(
        update(documents)
        .where(documents.c.id == document_id)
        .values(
            status=status,
            tags=tags,
            failure_reason=failure_reason,
            rejection_reason=rejection_reason,
            tagging_attempts=documents.c.tagging_attempts + 1,
            updated_at=now,
        )
    )


async def count_documents(connection: AsyncConnection, application_id: UUID) -> tuple[int, int]:
    result = await connection.execute(
        select(
            func.count(documents.c.id),
            func.coalesce(func.sum(case((documents.c.status == "tagged", 1), else_=0)), 0),
        ).where(documents.c.application_id == application_id)
    )
    uploaded, tagged = result.one()
    return int(uploaded), int(tagged)

"""Business rules of the documents module. Public: ``count_documents`` for other modules.

An upload is stored first and committed, then sent to the tagger: a tagger that fails or is slow
leaves the document stored with status ``tagging_failed`` (nothing is lost) and tagging can be
retried. A document the tagger cannot read (an encrypted PDF) is stored as ``rejected``: retrying
could not change that, so it is not offered. Fiscal documents must be recent
(``rules.fiscal_document_recency_error``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from uuid import UUID

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncConnection

from loan_api.documents import repository
from loan_api.documents.client import TaggerClient, TaggerError
from loan_api.documents.exceptions import (
    AlreadyTagged,
    DocumentNotFound,
    DocumentUnreadable,
    EmptyDocument,
    TaggingFailed,
    UnsupportedDocumentType,
)
from loan_api.documents.rules import fiscal_document_recency_error
from loan_api.documents.schemas import (
    DocumentCounts,
    DocumentKind,
    DocumentRead,
    DocumentStatus,
    Tags,
)
from loan_api.metrics import BusinessMetrics

# Declared media type -> the bytes such a file starts with.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
ALLOWED_MEDIA_TYPES = sorted(SIGNATURES)
UNREADABLE = "unreadable: the tagger cannot read this document"

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)


def check_media_type(content_type: str | None, head: bytes) -> str:
    """The normalised media type, or 415 when it is not allowed or the bytes disagree."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in SIGNATURES:
        raise UnsupportedDocumentType(
            f"Documents must be one of {', '.join(ALLOWED_MEDIA_TYPES)}; "
            f"got {media_type or 'none'}.",
            ALLOWED_MEDIA_TYPES,
        )
    if not head.startswith(SIGNATURES[media_type]):
        raise UnsupportedDocumentType(
            f"The file's content is not {media_type}.", ALLOWED_MEDIA_TYPES
        )
    return media_type


_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f]")


def clean_filename(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME.sub("", name).strip()[:255]
    return name or "document"


async def upload_document(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    kind: DocumentKind,
    filename: str | None,
    content_type: str | None,
    content: bytes,
    tagger: TaggerClient,
    metrics: BusinessMetrics,
    now: datetime,
    documents_path: str,
) -> DocumentRead:
    with tracer.start_as_current_span("documents.upload") as span:
        span.set_attribute("application.id", str(application_id))
        span.set_attribute("document.kind", kind.value)
        span.set_attribute("document.size_bytes", len(content))
        if not content:
            raise EmptyDocument
        media_type = check_media_type(content_type, content[:16])
        span.set_attribute("document.media_type", media_type)
        document_id = uuid.uuid4()
        span.set_attribute("document.id", str(document_id))
        await repository.insert_document(
            connection,
            document_id=document_id,
            application_id=application_id,
            kind=kind.value,
            filename=clean_filename(filename),
            content_type=media_type,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            status=DocumentStatus.uploaded.value,
            now=now,
        )
        # Committed before the tagger is called: whatever happens next, the upload is kept.
        await connection.commit()
        log.info(
            "document.uploaded",
            application_id=str(application_id),
            document_id=str(document_id),
            kind=kind.value,
            size_bytes=len(content),
        )
        return await _tag(
            connection,
            application_id=application_id,
            document_id=document_id,
            kind=kind,
            content=content,
            media_type=media_type,
            tagger=tagger,
            metrics=metrics,
            now=now,
            documents_path=documents_path,
        )


async def retry_tagging(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    document_id: UUID,
    tagger: TaggerClient,
    metrics: BusinessMetrics,
    now: datetime,
    documents_path: str,
) -> DocumentRead:
    with tracer.start_as_current_span("documents.retry_tagging") as span:
        span.set_attribute("application.id", str(application_id))
        span.set_attribute("document.id", str(document_id))
        row = await repository.get_document(
            connection, application_id=application_id, document_id=document_id
        )
        if row is None:
            raise DocumentNotFound
        if row["status"] in (DocumentStatus.tagged, DocumentStatus.rejected):
            raise AlreadyTagged
        content = await repository.get_content(connection, document_id)
        return await _tag(
            connection,
            application_id=application_id,
            document_id=document_id,
            kind=DocumentKind(row["kind"]),
            content=content,
            media_type=row["content_type"],
            tagger=tagger,
            metrics=metrics,
            now=now,
            documents_path=documents_path,
        )


async def _tag(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    document_id: UUID,
    kind: DocumentKind,
    content: bytes,
    media_type: str,
    tagger: TaggerClient,
    metrics: BusinessMetrics,
    now: datetime,
    documents_path: str,
) -> DocumentRead:
    """Send the document to the tagger and store its verdict (or its failure)."""
    with tracer.start_as_current_span("documents.tag") as span:
        span.set_attribute("document.id", str(document_id))
        span.set_attribute("document.kind", kind.value)
        try:
            tags = await tagger.tag(content=content, content_type=media_type, kind=kind)
        except TaggerError as exc:
            await _record_failure(
                connection,
                span,
                exc,
                application_id=application_id,
                document_id=document_id,
                metrics=metrics,
                now=now,
            )
            if exc.unreadable:
                raise DocumentUnreadable(document_id=document_id) from exc
            raise TaggingFailed(
                reason=exc.reason, documents_path=documents_path, document_id=document_id
            ) from exc
        await _record_tags(
            connection,
            span,
            kind,
            tags,
            application_id=application_id,
            document_id=document_id,
            metrics=metrics,
            now=now,
        )
    row = await repository.get_document(
        connection, application_id=application_id, document_id=document_id
    )
    assert row is not None
    return DocumentRead.from_row(row)


async def _record_failure(
    connection: AsyncConnection,
    span: Span,
    exc: TaggerError,
    *,
    application_id: UUID,
    document_id: UUID,
    metrics: BusinessMetrics,
    now: datetime,
) -> None:
    """A document the tagger cannot read (``exc.unreadable``) is a verdict on the document:
    stored as rejected, no retry. Every other reason is the tagger's failure: stored as
    tagging_failed, and retrying may succeed."""
    unreadable = exc.unreadable
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"tagging failed: {exc.reason}"))
    span.set_attribute("tagging.outcome", "failed")
    span.set_attribute("tagging.failure_reason", exc.reason)
    metrics.tagger_failures.labels(reason=exc.reason).inc()
    await repository.record_tagging(
        connection,
        document_id=document_id,
        status=(DocumentStatus.rejected if unreadable else DocumentStatus.tagging_failed).value,
        tags=None,
        failure_reason=None if unreadable else exc.reason,
        rejection_reason=UNREADABLE if unreadable else None,
        now=now,
    )
    await connection.commit()
    log.warning(
        "document.tagging_failed",
        application_id=str(application_id),
        document_id=str(document_id),
        reason=exc.reason,
        error=str(exc),
    )


async def _record_tags(
    connection: AsyncConnection,
    span: Span,
    kind: DocumentKind,
    tags: Tags,
    *,
    application_id: UUID,
    document_id: UUID,
    metrics: BusinessMetrics,
    now: datetime,
) -> None:
    """The tagger's verdict: tagged, or rejected by a business rule (``_rejection``)."""
    rejection = _rejection(kind, tags, now)
    status = DocumentStatus.rejected if rejection else DocumentStatus.tagged
    span.set_attribute("tagging.outcome", status.value)
    span.set_attribute("document.type", tags.document_type.value)
    if tags.form_year is not None:
        span.set_attribute("document.form_year", tags.form_year)
    if rejection:
        span.add_event("document.rejected", {"reason": rejection})
    metrics.documents_tagged.labels(kind=kind.value, document_type=tags.document_type.value).inc()
    await repository.record_tagging(
        connection,
        document_id=document_id,
        status=status.value,
        tags=tags.model_dump(mode="json"),
        failure_reason=None,
        rejection_reason=rejection,
        now=now,
    )
    await connection.commit()
    log.info(
        "document.tagged",
        application_id=str(application_id),
        document_id=str(document_id),
        document_type=tags.document_type.value,
        status=status.value,
    )


def _rejection(kind: DocumentKind, tags: Tags, now: datetime) -> str | None:
    if kind is DocumentKind.fiscal:
        return fiscal_document_recency_error(tags.form_year, today=now.date())
    return None


async def list_documents(
    connection: AsyncConnection, *, application_id: UUID
) -> list[DocumentRead]:
    rows = await repository.list_documents(connection, application_id)
    return [DocumentRead.from_row(row) for row in rows]


async def count_documents(connection: AsyncConnection, *, application_id: UUID) -> DocumentCounts:
    uploaded, tagged = await repository.count_documents(connection, application_id)
    return DocumentCounts(uploaded=uploaded, tagged=tagged)

"""The tagger's application factory: ``uvicorn --factory doc_tagger.main:create_app``."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated

import structlog
from fastapi import APIRouter, FastAPI, Header, Request
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field

from doc_tagger import __version__
from doc_tagger.config import TaggerSettings, get_settings
from doc_tagger.tagging import UnreadableDocument, tag_document
from loan_desk_telemetry import Telemetry
from servicekit.factory import create_service_app
from servicekit.health import health_router
from servicekit.openapi import problem_responses
from servicekit.problems import Problem
from servicekit.trainer.scenarios import HTTP_SCENARIOS

SERVICE_NAME = "doc-tagger"
MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)


class DocumentKind(enum.StrEnum):
    id = "id"
    fiscal = "fiscal"


class TagsRead(BaseModel):
    """What ``POST /api/v1/tags`` answers (``tagging.Tags``)."""

    document_type: str
    form_year: int | None
    language: str | None
    confidence: float = Field(ge=0, le=1)
    tagger_version: str


# The body is the document itself, not JSON: declared here, read raw in the endpoint.
_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The document's bytes; the Content-Type header names its type.",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in MEDIA_TYPES
        },
    }
}


def _unsupported_media_type(media_type: str) -> Problem:
    allowed = ", ".join(MEDIA_TYPES)
    if not media_type:
        detail = f"The request has no Content-Type; send the document as one of {allowed}."
    else:
        detail = f"Cannot tag {media_type}; send the document as one of {allowed}."
    return Problem(415, detail, slug="unsupported-media-type", allowed=list(MEDIA_TYPES))


def _tags_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["tagging"])

    @router.post(
        "/tags",
        summary="Tag a document",
        openapi_extra=_DOCUMENT_BODY,
        responses=problem_responses(
            415,
            422,
            descriptions={
                415: "No Content-Type, or not a PDF, PNG or JPEG (`allowed` lists those).",
                422: "An invalid `X-Document-Kind` (`errors`), or a document that cannot be read "
                "(an encrypted PDF; `type` ends in `unreadable`).",
            },
        ),
    )
    async def tag(
        request: Request,
        x_document_kind: Annotated[
            DocumentKind, Header(description="What the applicant says the document is.")
        ],
    ) -> TagsRead:
        """Read the document and say what it is: its type, the form year of a tax document, its
        language, and how sure the tagger is."""
        # Read from the request, not declared as a header parameter: OpenAPI ignores a
        # Content-Type parameter; the request body above names the accepted types.
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise _unsupported_media_type(media_type)
        kind = x_document_kind.value
        content = await request.body()
        with tracer.start_as_current_span("tagger.tag_document") as span:
            span.set_attribute("document.kind", kind)
            span.set_attribute("document.media_type", media_type)
            span.set_attribute("document.size_bytes", len(content))
            try:
                tags = tag_document(content, media_type, kind)
            except UnreadableDocument as exc:
                span.set_attribute("tagging.outcome", "unreadable")
                log.warning("tagging.unreadable", reason=str(exc), kind=kind)
                raise Problem(422, f"Cannot read this document: {exc}.", slug="unreadable") from exc
            span.set_attribute("tagging.outcome", "tagged")
            span.set_attribute("document.type", tags.document_type)
        log.info("tagging.done", document_type=tags.document_type, kind=kind)
        return TagsRead(**dataclasses.asdict(tags))

    return router


def create_app(
    settings: TaggerSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """Build the tagger; tests pass a fresh registry and a telemetry handle of their own."""
    settings = settings or get_settings()
    # Trainer mode (ADMIN_ENABLED=true) offers the HTTP scenarios here, e.g. a tagger slower
    # than the api's timeout.
    app, _parts = create_service_app(
        settings,
        service_name=SERVICE_NAME,
        code_version=__version__,
        title="Document tagger",
        registry=registry,
        telemetry=telemetry,
        scenario_kinds=HTTP_SCENARIOS,
        max_body_bytes=settings.tagger_max_document_bytes,
    )
    app.include_router(_tags_router())
    app.include_router(health_router())
    return app

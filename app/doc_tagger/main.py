"""The tagger's application factory: ``uvicorn --factory doc_tagger.main:create_app``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Header, Request
from opentelemetry import trace
from prometheus_client import REGISTRY, CollectorRegistry

from doc_tagger import __version__
from doc_tagger.config import TaggerSettings, get_settings
from doc_tagger.tagging import UnreadableDocument, tag_document
from observability import Telemetry
from servicekit.health import health_router
from servicekit.observe import prepare_service
from servicekit.problems import Problem
from servicekit.trainer.registry import HTTP_SCENARIOS

SERVICE_NAME = "doc-tagger"
MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")
KINDS = ("id", "fiscal")

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)


def _tags_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["tagging"])

    @router.post("/tags")
    async def tag(
        request: Request,
        content_type: Annotated[str, Header()],
        x_document_kind: Annotated[str, Header()],
    ) -> dict[str, Any]:
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise Problem(415, f"Cannot tag {media_type}.", slug="unsupported-media-type")
        if x_document_kind not in KINDS:
            raise Problem(
                422, "X-Document-Kind must be one of: id, fiscal.", slug="unknown-document-kind"
            )
        content = await request.body()
        with tracer.start_as_current_span("tagger.tag_document") as span:
            span.set_attribute("document.kind", x_document_kind)
            span.set_attribute("document.media_type", media_type)
            span.set_attribute("document.size_bytes", len(content))
            try:
                tags = tag_document(content, media_type, x_document_kind)
            except UnreadableDocument as exc:
                span.set_attribute("tagging.outcome", "unreadable")
                log.warning("tagging.unreadable", reason=str(exc), kind=x_document_kind)
                raise Problem(422, f"Cannot read this document: {exc}.", slug="unreadable") from exc
            span.set_attribute("tagging.outcome", "tagged")
            span.set_attribute("document.type", tags.document_type)
        log.info("tagging.done", document_type=tags.document_type, kind=x_document_kind)
        return dataclasses.asdict(tags)

    return router


def create_app(
    settings: TaggerSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """Build the tagger; tests pass a fresh registry and a telemetry handle of their own."""
    settings = settings or get_settings()
    registry = registry if registry is not None else REGISTRY

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if parts.owns_telemetry:
                parts.telemetry.shutdown()

    version = settings.service_version or __version__
    app = FastAPI(title="Document tagger", version=version, lifespan=lifespan)
    # Trainer mode (ADMIN_ENABLED=true) offers the HTTP scenarios here, e.g. a tagger slower
    # than the api's timeout.
    parts = prepare_service(
        app,
        settings,
        service_name=SERVICE_NAME,
        service_version=version,
        log_level=settings.log_level,
        log_format=settings.log_format,
        registry=registry,
        telemetry=telemetry,
        scenario_kinds=HTTP_SCENARIOS,
        max_body_bytes=settings.tagger_max_document_bytes,
    )
    app.include_router(_tags_router())
    app.include_router(health_router())
    return app

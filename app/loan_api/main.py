"""The api's application factory: ``uvicorn --factory loan_api.main:create_app``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import REGISTRY, CollectorRegistry

from loan_api import __version__
from loan_api.applications import router as applications
from loan_api.config import Settings, get_settings
from loan_api.container import Container, build_container
from loan_api.database import ping
from loan_api.documents import router as documents
from loan_api.documents.client import HttpTaggerClient
from loan_api.faults import API_SCENARIOS, install_faults
from loan_api.metrics import BusinessMetrics
from loan_api.notifications import router as notifications
from loan_desk_telemetry import Telemetry, instrument_sqlalchemy
from servicekit.factory import ServiceLifespan, create_service_app
from servicekit.health import health_router
from servicekit.observe import ServiceParts

SERVICE_NAME = "loan-api"
# Multipart framing around the file may add a little to the body; the endpoint then checks the
# file itself against the exact limit.
_MULTIPART_ALLOWANCE = 64 * 1024
_READINESS_TIMEOUT_SECONDS = 2.0

ContainerFactory = Callable[[Settings, BusinessMetrics], Container]


async def _database_ready(request: Request) -> None:
    container: Container = request.app.state.container
    # Probes are not traced; without this their SELECT 1 would become an orphan root span on
    # every healthcheck, in Tempo and in the service graph.
    with suppress_instrumentation():
        async with asyncio.timeout(_READINESS_TIMEOUT_SECONDS):
            async with container.engine.connect() as connection:
                await ping(connection)


def _lifespan(
    settings: Settings, metrics: BusinessMetrics, container_factory: ContainerFactory
) -> ServiceLifespan:
    """The api's own start-up: the container (engine, tagger client, e-mailer), its
    instrumentation and trainer mode's faults; closed again at shut-down."""

    @asynccontextmanager
    async def lifespan(app: FastAPI, parts: ServiceParts) -> AsyncIterator[None]:
        container = container_factory(settings, metrics)
        app.state.container = container
        handle = parts.telemetry
        instrument_sqlalchemy(container.engine, tracer_provider=handle.tracer_provider)
        if isinstance(container.tagger, HttpTaggerClient) and not handle.owns_globals:
            handle.instrument_httpx(container.tagger.http_client)
        if parts.scenarios is not None:
            install_faults(container, parts.scenarios)
        try:
            yield
        finally:
            await container.aclose()

    return lifespan


def _api_routers() -> list[APIRouter]:
    v1 = APIRouter(prefix="/api/v1")
    v1.include_router(applications.router_v1)
    v1.include_router(documents.router)
    v1.include_router(notifications.router)
    v2 = APIRouter(prefix="/api/v2")
    v2.include_router(applications.router_v2)
    return [v1, v2]


def create_app(
    settings: Settings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    container_factory: ContainerFactory = build_container,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """Build the api. Tests pass their own settings, a fresh registry, a container factory that
    swaps long-lived objects (tagger client, e-mailer, clock) for fakes, and a telemetry handle
    with in-memory exporters. Production passes nothing: the default registry, OTLP from the
    ``OTEL_*`` variables."""
    settings = settings or get_settings()
    registry = registry if registry is not None else REGISTRY
    metrics = BusinessMetrics(registry)
    app, _parts = create_service_app(
        settings,
        service_name=SERVICE_NAME,
        code_version=__version__,
        title="Loan Desk API",
        description="Loan applications: applicant details, address, documents, invite.",
        registry=registry,
        telemetry=telemetry,
        scenario_kinds=API_SCENARIOS,
        max_body_bytes=settings.max_upload_bytes + _MULTIPART_ALLOWANCE,
        lifespan=_lifespan(settings, metrics, container_factory),
    )
    for router in _api_routers():
        app.include_router(router)
    app.include_router(health_router(_database_ready))
    return app

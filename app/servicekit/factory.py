"""The application factory every service builds on: one FastAPI app, wired the same way.

A service's own ``create_app`` names what differs (title, scenarios, body limit, its lifespan)
and adds its routers; :func:`create_service_app` does the rest: the version (``SERVICE_VERSION``
or the code's), telemetry, trainer mode, the body limit, problem handlers and the OpenAPI
document of them (``servicekit.observe.prepare_service``), and a lifespan that ends with the
telemetry shut down when the app created it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry

from loan_desk_telemetry import Telemetry
from servicekit.observe import ServiceParts, prepare_service
from servicekit.settings import ServiceSettings

#: A service's own start-up and shut-down, given the app and what the factory wired; the
#: factory's lifespan runs it and then shuts the telemetry down.
ServiceLifespan = Callable[[FastAPI, ServiceParts], AbstractAsyncContextManager[None]]


def create_service_app(
    settings: ServiceSettings,
    *,
    service_name: str,
    code_version: str,
    title: str,
    description: str = "",
    registry: CollectorRegistry | None = None,
    telemetry: Telemetry | None = None,
    scenario_kinds: Iterable[str],
    max_body_bytes: int,
    lifespan: ServiceLifespan | None = None,
) -> tuple[FastAPI, ServiceParts]:
    """The app and its parts. ``registry`` defaults to prometheus_client's global one and
    ``telemetry`` to one set up from the ``OTEL_*`` variables; tests pass their own."""

    @asynccontextmanager
    async def service_lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app, parts):
                    yield
        finally:
            if parts.owns_telemetry:
                parts.telemetry.shutdown()

    version = settings.service_version or code_version
    app = FastAPI(title=title, version=version, description=description, lifespan=service_lifespan)
    parts = prepare_service(
        app,
        settings,
        service_name=service_name,
        service_version=version,
        registry=registry if registry is not None else REGISTRY,
        telemetry=telemetry,
        scenario_kinds=scenario_kinds,
        max_body_bytes=max_body_bytes,
    )
    return app, parts

"""Wiring a service the same way for both: telemetry, trainer mode, errors (and the OpenAPI
document of them), body limit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from loan_desk_telemetry import Telemetry, configure_logging, instrument_app, setup_telemetry
from servicekit.limits import install_body_limit
from servicekit.log_settings import LogFormat, LogLevel
from servicekit.openapi import install_openapi
from servicekit.problems import install_problem_handlers
from servicekit.settings import ServiceSettings
from servicekit.trainer.registry import ScenarioRegistry
from servicekit.trainer.wiring import install_trainer


def observe(
    app: FastAPI,
    *,
    service_name: str,
    service_version: str,
    log_level: LogLevel,
    log_format: LogFormat,
    registry: CollectorRegistry,
    telemetry: Telemetry | None,
) -> tuple[Telemetry, bool]:
    """Logging, traces, logs over OTLP and HTTP metrics for ``app``.

    Returns the telemetry handle and whether this call created it (then the app's lifespan shuts
    it down; a handle passed in, as tests do, belongs to the caller).
    """
    configure_logging(service_name=service_name, level=log_level, fmt=log_format)
    owned = telemetry is None
    if telemetry is None:
        telemetry = setup_telemetry(service_name=service_name, service_version=service_version)
    instrument_app(
        app,
        service_name=service_name,
        service_version=service_version,
        registry=registry,
        tracer_provider=telemetry.tracer_provider,
    )
    return telemetry, owned


@dataclass(frozen=True)
class ServiceParts:
    telemetry: Telemetry
    owns_telemetry: bool  # created here: the app's lifespan shuts it down
    scenarios: ScenarioRegistry | None  # trainer mode's registry, None when it is off
    registry: CollectorRegistry  # where the HTTP metrics (and the service's own) go


def prepare_service(
    app: FastAPI,
    settings: ServiceSettings,
    *,
    service_name: str,
    service_version: str,
    registry: CollectorRegistry,
    telemetry: Telemetry | None,
    scenario_kinds: Iterable[str],
    max_body_bytes: int,
) -> ServiceParts:
    """The middleware and handlers every service shares, in the order that matters.

    Each ``add_middleware`` wraps the ones added before it. From the inside out: trainer
    scenarios, then the body-size limit (an oversized body is refused before a scenario or the
    app sees it), then telemetry: the metrics middleware is the outermost of the app's own
    middleware and the server span wraps the whole stack, so every answer, whoever gives it
    (app, problem handlers, 404/405, trainer scenario, body limit), gets exactly one access line,
    one duration observation and one server span. The problem handlers are not middleware:
    Starlette runs them in its exception middleware (innermost) and, for unhandled exceptions,
    in its server-error middleware (outside the metrics middleware, which counts those as 500).
    """
    scenarios = install_trainer(
        app, settings, app_name=service_name, kinds=scenario_kinds, registry=registry
    )
    install_body_limit(app, max_body_bytes=max_body_bytes)
    handle, owned = observe(
        app,
        service_name=service_name,
        service_version=service_version,
        log_level=settings.log_level,
        log_format=settings.log_format,
        registry=registry,
        telemetry=telemetry,
    )
    install_problem_handlers(app)
    # The OpenAPI document lists the problem documents the handlers and the body limit send.
    install_openapi(app)
    return ServiceParts(
        telemetry=handle, owns_telemetry=owned, scenarios=scenarios, registry=registry
    )

"""Wiring a service the same way for both: telemetry, trainer mode, errors (and the OpenAPI
document of them), body limit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from observability import Telemetry, configure_logging, instrument_app, setup_telemetry
from servicekit.limits import BodySizeLimitMiddleware
from servicekit.openapi import install_openapi
from servicekit.problems import install_problem_handlers
from servicekit.trainer.registry import ScenarioRegistry
from servicekit.trainer.settings import AdminSettings
from servicekit.trainer.wiring import install_trainer


def observe(
    app: FastAPI,
    *,
    service_name: str,
    service_version: str,
    log_level: str,
    log_format: str,
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


def prepare_service(
    app: FastAPI,
    settings: AdminSettings,
    *,
    service_name: str,
    service_version: str,
    log_level: str,
    log_format: str,
    registry: CollectorRegistry,
    telemetry: Telemetry | None,
    scenario_kinds: Iterable[str],
    max_body_bytes: int,
) -> ServiceParts:
    """The middleware and handlers both services share, in the order that matters.

    Trainer scenarios first (innermost), so the metrics middleware and the server span wrap and
    see what they inject; then telemetry; then problem documents for every error; the body-size
    limit last, outermost of the app's own middleware, so an oversized body is refused before
    anything reads it.
    """
    scenarios = install_trainer(
        app, settings, app_name=service_name, kinds=scenario_kinds, registry=registry
    )
    handle, owned = observe(
        app,
        service_name=service_name,
        service_version=service_version,
        log_level=log_level,
        log_format=log_format,
        registry=registry,
        telemetry=telemetry,
    )
    install_problem_handlers(app)
    # The OpenAPI document lists the problem documents the handlers and the body limit send.
    install_openapi(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_body_bytes)
    return ServiceParts(telemetry=handle, owns_telemetry=owned, scenarios=scenarios)

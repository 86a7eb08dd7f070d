"""Wiring the observability package into a service, the same way for both services."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from observability import Telemetry, configure_logging, instrument_app, setup_telemetry


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

"""Test helpers: the whole pipeline with in-memory exporters and a fresh registry, no globals.

::

    @pytest.fixture(autouse=True)
    def _clean():
        reset_global_state()
        yield
        reset_global_state()

    def test_something():
        capture = capture_telemetry(service_name="svc")
        ...  # instrument_app(app, ..., registry=capture.registry,
             #                tracer_provider=capture.tracer_provider)
        spans = capture.spans()        # flushes first
        records = capture.log_records()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from opentelemetry import _logs, trace
from prometheus_client import CollectorRegistry

from loan_desk_telemetry._log_config import reset_logging
from loan_desk_telemetry._telemetry import Telemetry, setup_telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Capture", "capture_telemetry", "reset_global_state"]


@dataclass
class Capture:
    """What :func:`capture_telemetry` built: the handle, its in-memory exporters and a fresh
    registry."""

    telemetry: Telemetry
    span_exporter: InMemorySpanExporter
    log_exporter: InMemoryLogRecordExporter
    registry: CollectorRegistry

    @property
    def tracer_provider(self) -> trace.TracerProvider:
        return self.telemetry.tracer_provider

    @property
    def logger_provider(self) -> _logs.LoggerProvider:
        return self.telemetry.logger_provider

    def spans(self) -> list[ReadableSpan]:
        self.telemetry.force_flush()
        return list(self.span_exporter.get_finished_spans())

    def log_records(self) -> list[ReadableLogRecord]:
        self.telemetry.force_flush()
        return list(self.log_exporter.get_finished_logs())

    def clear(self) -> None:
        self.telemetry.force_flush()
        self.span_exporter.clear()
        self.log_exporter.clear()


def capture_telemetry(*, service_name: str = "test-service", version: str = "0.0.0") -> Capture:
    """``setup_telemetry`` with explicit SDK providers and in-memory exporters."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from loan_desk_telemetry._resource import build_resource

    resource = build_resource(service_name=service_name, service_version=version)
    span_exporter = InMemorySpanExporter()
    log_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    telemetry = setup_telemetry(
        service_name=service_name,
        service_version=version,
        tracer_provider=TracerProvider(resource=resource),
        logger_provider=LoggerProvider(resource=resource),
        span_exporter=span_exporter,
        log_exporter=log_exporter,
    )
    return Capture(telemetry, span_exporter, log_exporter, CollectorRegistry())


def reset_global_state() -> None:
    """Root handlers this package added, structlog configuration and context vars."""
    reset_logging()
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()

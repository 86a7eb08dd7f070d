"""A collector outage: export failures are rate-limited warnings, and shutdown is bounded.

The real processes against a closed port and a port that never answers are in
tests/telemetry/test_shutdown.py; these are the same rules in-process, with exporters that fail
or hang on purpose.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from loan_desk_telemetry import configure_logging, setup_telemetry
from loan_desk_telemetry._log_filters import EXPORT_FAILURE_LOGGERS, EXPORT_FAILURE_MESSAGES
from loan_desk_telemetry._telemetry import Telemetry


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


@pytest.mark.parametrize(
    ("logger", "message", "args"),
    [
        (
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
            "Failed to export %s batch due to timeout, max retries or shutdown.",
            ("spans",),
        ),
        (
            "opentelemetry.exporter.otlp.proto.http._log_exporter",
            "Failed to export %s batch code: %s, reason: %s",
            ("logs", None, "connection refused"),
        ),
        (
            "opentelemetry.exporter.otlp.proto.grpc.exporter",
            "Failed to export %s to %s, error code: %s, error details: %s",
            ("traces", "collector:4317", "StatusCode.UNAVAILABLE", "failed to connect"),
        ),
    ],
)
def test_export_failures_are_warnings(logger: str, message: str, args: tuple[Any, ...]) -> None:
    stream = io.StringIO()
    configure_logging(service_name="svc", fmt="json", stream=stream)
    logging.getLogger(logger).error(message, *args)
    (line,) = _lines(stream)
    assert line["level"] == "warning"
    assert line["event"] == message % args


def test_other_sdk_errors_keep_their_level() -> None:
    stream = io.StringIO()
    configure_logging(service_name="svc", fmt="json", stream=stream)
    logging.getLogger("opentelemetry.sdk._shared_internal").error(
        "Exception while exporting %s.", "Span"
    )
    logging.getLogger("app").error("Failed to export %s batch code: %s, reason: %s", "x", 1, 2)
    assert [line["level"] for line in _lines(stream)] == ["error", "error"]


def test_the_rate_limit_tells_signals_apart_and_ignores_numbers() -> None:
    stream = io.StringIO()
    configure_logging(service_name="svc", fmt="json", stream=stream)
    sdk = logging.getLogger("opentelemetry.sdk.test_rate_limit")
    for _ in range(5):
        sdk.warning("Queue full, dropping %s.", "Span")
        sdk.warning("Queue full, dropping %s.", "LogRecord")
    grpc = logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter")
    for delay in (1.04, 2.31, 3.9):
        grpc.warning("Transient error encountered, retrying in %.2fs.", delay)
    assert [line["event"] for line in _lines(stream)] == [
        "Queue full, dropping Span.",
        "Queue full, dropping LogRecord.",
        "Transient error encountered, retrying in 1.04s.",
    ]


def test_the_messages_and_loggers_are_the_installed_exporters_own() -> None:
    """Held to the source of the locked versions (opentelemetry-exporter-otlp-common 0.66b2
    ``exporter/otlp/common/http.py``, opentelemetry-exporter-otlp-proto-grpc 1.45.2
    ``exporter.py``): an upgrade that rewords them fails here, not silently in production."""
    sources = "".join(
        inspect.getsource(importlib.import_module(name))
        for name in (
            "opentelemetry.exporter.otlp.common.http",
            "opentelemetry.exporter.otlp.proto.grpc.exporter",
        )
    )
    for message in EXPORT_FAILURE_MESSAGES:
        assert f'"{message}"' in sources, message
    names = set()
    for module_name in (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.exporter.otlp.proto.http._log_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.exporter",
    ):
        module = importlib.import_module(module_name)
        logger = getattr(module, "_logger", None) or module.logger
        names.add(logger.name)
    assert names == set(EXPORT_FAILURE_LOGGERS)


class HangingExporter(SpanExporter):
    """Waits in export until shut down, like an exporter stuck on a collector that never answers."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.shutdowns = 0
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.released.is_set():
            return SpanExportResult.FAILURE
        self.released.wait(30)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.released.set()


class CountingExporter(SpanExporter):
    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _owned(span_exporter: SpanExporter) -> tuple[Telemetry, TracerProvider]:
    """A handle that owns its providers, as the production path does (without the globals)."""
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    logger_provider = LoggerProvider(shutdown_on_exit=False)
    telemetry = setup_telemetry(
        service_name="svc",
        service_version="1",
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        span_exporter=span_exporter,
        log_exporter=InMemoryLogRecordExporter(),  # type: ignore[no-untyped-call]
    )
    telemetry._owned_providers = [tracer_provider, logger_provider]
    return telemetry, tracer_provider


@pytest.mark.parametrize("owned", [True, False])
def test_shutdown_is_bounded_when_the_exporter_hangs(owned: bool) -> None:
    stream = io.StringIO()
    configure_logging(service_name="svc", fmt="json", stream=stream)
    exporter = HangingExporter()
    if owned:
        telemetry, tracer_provider = _owned(exporter)
    else:
        tracer_provider = TracerProvider(shutdown_on_exit=False)
        telemetry = setup_telemetry(
            service_name="svc",
            service_version="1",
            tracer_provider=tracer_provider,
            logger_provider=LoggerProvider(shutdown_on_exit=False),
            span_exporter=exporter,
            log_exporter=InMemoryLogRecordExporter(),  # type: ignore[no-untyped-call]
        )
    tracer = tracer_provider.get_tracer("t")
    for _ in range(50):
        with tracer.start_as_current_span("work"):
            pass
    started = time.monotonic()
    finished = telemetry.shutdown(timeout_seconds=0.5)
    took = time.monotonic() - started
    assert finished is False
    # Bounded: the exporter alone would hang 30 s. Not tight: 0.5 s plus whatever a loaded 2-core
    # machine (this tier runs at nice 10 beside the alerting tier) adds to the join and the warning.
    assert took < 5.0, took
    assert exporter.shutdowns == 1  # interrupted once; the processor's own call is absorbed
    warnings = [line for line in _lines(stream) if line["event"] == "telemetry.shutdown_incomplete"]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"
    assert warnings[0]["timeout_seconds"] == 0.5


def test_shutdown_flushes_everything_when_the_collector_answers() -> None:
    exporter = CountingExporter()
    telemetry, tracer_provider = _owned(exporter)
    tracer = tracer_provider.get_tracer("t")
    for _ in range(700):  # more than one batch
        with tracer.start_as_current_span("work"):
            pass
    assert telemetry.shutdown(timeout_seconds=5) is True
    assert exporter.exported == 700

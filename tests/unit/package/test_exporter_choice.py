"""OTEL_TRACES_EXPORTER / OTEL_LOGS_EXPORTER: otlp (default), console, none."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider

from loan_desk_telemetry import setup_telemetry
from loan_desk_telemetry._otlp_log_handler import OtlpLogHandler


def _otlp_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, OtlpLogHandler)]


def _setup() -> tuple[TracerProvider, object]:
    tracer_provider = TracerProvider()
    telemetry = setup_telemetry(
        service_name="svc",
        service_version="1",
        tracer_provider=tracer_provider,
        logger_provider=LoggerProvider(),
    )
    return tracer_provider, telemetry


def test_none_ships_nothing_and_builds_no_log_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    tracer_provider, telemetry = _setup()
    processors = tracer_provider._active_span_processor._span_processors
    assert processors == ()
    assert _otlp_handlers() == []
    with tracer_provider.get_tracer("t").start_as_current_span("still-traced") as span:
        assert span.get_span_context().is_valid  # trace ids still reach the log lines
    telemetry.shutdown()  # type: ignore[attr-defined]


def test_default_is_otlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_LOGS_EXPORTER", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    tracer_provider, telemetry = _setup()
    (processor,) = tracer_provider._active_span_processor._span_processors
    assert type(processor).__name__ == "BatchSpanProcessor"
    assert len(_otlp_handlers()) == 1
    telemetry.shutdown()  # type: ignore[attr-defined]
    assert _otlp_handlers() == []


def test_unknown_exporter_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER='jaeger'"):
        _setup()

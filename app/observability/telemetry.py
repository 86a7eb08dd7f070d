"""Traces and logs over OTLP: providers, exporters, the OTLP log handler, httpx and SQLAlchemy."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Span, Status, StatusCode

from observability.log_config import OtlpLogHandler, install_otlp_handler
from observability.redaction import redact_attributes
from observability.resource import build_resource, instrumentation_disabled, sdk_disabled

__all__ = [
    "RedactingSpanExporter",
    "Telemetry",
    "instrument_httpx_client",
    "instrument_sqlalchemy",
    "record_exception",
    "setup_telemetry",
]

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_global: Telemetry | None = None
_MARK = "_observability_pipeline"


class RedactingSpanExporter(SpanExporter):
    """Wraps a span exporter; spans with sensitive attributes leave with those values redacted.

    Spans are immutable once ended, so a redacted copy is exported (only for the spans that need
    it; the others pass through as they are).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        result: SpanExportResult = self.inner.export([_redacted_span(s) for s in spans])
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.inner, "force_flush", None)
        return bool(flush(timeout_millis)) if callable(flush) else True


def _redacted_span(span: Any) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan

    attributes = redact_attributes(span.attributes or {})
    events = list(span.events)
    new_events = []
    events_changed = False
    for event in events:
        event_attrs = redact_attributes(event.attributes or {})
        if event_attrs is not None:
            events_changed = True
            new_events.append(Event(event.name, event_attrs, event.timestamp))
        else:
            new_events.append(event)
    if attributes is None and not events_changed:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes if attributes is not None else span.attributes,
        events=new_events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _protocol(signal: str) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def _exporter_choice(signal: str) -> str:
    """``OTEL_TRACES_EXPORTER`` / ``OTEL_LOGS_EXPORTER``: ``otlp`` (default), ``console`` or
    ``none``. ``none`` still creates spans (trace ids reach the log lines) but ships nothing."""
    value = os.environ.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower() or "otlp"
    if value not in {"otlp", "console", "none"}:
        raise ValueError(f"OTEL_{signal}_EXPORTER={value!r}: use otlp, console or none")
    return value


def _span_exporter_from_env() -> Any:
    choice = _exporter_choice("TRACES")
    if choice == "none":
        return None
    if choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    return _otlp_span_exporter()


def _log_exporter_from_env() -> Any:
    choice = _exporter_choice("LOGS")
    if choice == "none":
        return None
    if choice == "console":
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

        return ConsoleLogRecordExporter()
    return _otlp_log_exporter()


def _otlp_span_exporter() -> Any:
    # No endpoint argument: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself and,
    # for HTTP, appends /v1/traces to the base endpoint.
    if _protocol("TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def _otlp_log_exporter() -> Any:
    if _protocol("LOGS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter()
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )

    return HttpLogExporter()


@dataclass
class Telemetry:
    """Handle on what :func:`setup_telemetry` built. ``enabled`` is False under
    ``OTEL_SDK_DISABLED=true`` (the providers are then the API's no-op ones)."""

    service_name: str
    service_version: str
    enabled: bool
    tracer_provider: Any
    logger_provider: Any
    log_handler: OtlpLogHandler | None = None
    owns_globals: bool = False
    _owned_providers: list[Any] = field(default_factory=list, repr=False)
    _instrumented_httpx: bool = field(default=False, repr=False)
    _shut_down: bool = field(default=False, repr=False)

    def force_flush(self, timeout_millis: int = 10_000) -> None:
        """Export what is queued now (blocking, bounded by the exporters' timeouts)."""
        for provider in (self.tracer_provider, self.logger_provider):
            flush = getattr(provider, "force_flush", None)
            if callable(flush):
                flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop the exporters, take the OTLP log handler off the root logger.

        Call it from the app's lifespan shutdown. Idempotent.
        """
        global _global  # noqa: PLW0603
        if self._shut_down:
            return
        self._shut_down = True
        if self.log_handler is not None:
            logging.getLogger().removeHandler(self.log_handler)
        if self._instrumented_httpx:
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor().uninstrument()
        # Providers we built are shut down (flushing their queues); providers handed to us
        # belong to the caller and are only flushed.
        self.force_flush()
        for provider in self._owned_providers:
            provider.shutdown()
        with _lock:
            if _global is self:
                _global = None

    def instrument_httpx(self, client: Any) -> None:
        """Trace one ``httpx.Client``/``AsyncClient`` with this handle's tracer provider."""
        if self.enabled:
            instrument_httpx_client(client, tracer_provider=self.tracer_provider)


def setup_telemetry(
    *,
    service_name: str,
    service_version: str,
    tracer_provider: Any = None,
    logger_provider: Any = None,
    span_exporter: Any = None,
    log_exporter: Any = None,
) -> Telemetry:
    """Traces and logs over OTLP, configured by the standard ``OTEL_*`` variables.

    Without providers: builds an SDK ``TracerProvider`` (sampler from ``OTEL_TRACES_SAMPLER``)
    and ``LoggerProvider`` with the resource of :func:`observability.resource.build_resource`,
    sets them as the global providers, and instruments every httpx client. The globals can be set
    once per process: later calls return the first handle.

    With providers (tests, or an app that owns its providers): uses them as they are, sets no
    global and patches no library; trace your httpx clients with
    :meth:`Telemetry.instrument_httpx`.

    Either way one export pipeline is attached per provider (never twice):
    ``BatchSpanProcessor(RedactingSpanExporter(exporter))`` and ``BatchLogRecordProcessor``, the
    exporter being ``span_exporter``/``log_exporter`` when given, else OTLP (``grpc`` or
    ``http/protobuf`` after ``OTEL_EXPORTER_OTLP_PROTOCOL``). Queues are bounded (SDK defaults
    2048 spans / 2048 log records, ``OTEL_BSP_*``/``OTEL_BLRP_*``) and drop when full; exports
    run in the processors' threads, never in a request. The root logger gets one
    :class:`~observability.log_config.OtlpLogHandler`.
    """
    global _global  # noqa: PLW0603
    explicit = tracer_provider is not None or logger_provider is not None
    if sdk_disabled():
        return Telemetry(
            service_name=service_name,
            service_version=service_version,
            enabled=False,
            tracer_provider=trace.NoOpTracerProvider(),
            logger_provider=_logs.NoOpLoggerProvider(),
        )
    if not explicit:
        with _lock:
            if _global is not None:
                return _global
            _global = _build(
                service_name=service_name,
                service_version=service_version,
                tracer_provider=None,
                logger_provider=None,
                span_exporter=span_exporter,
                log_exporter=log_exporter,
            )
            return _global
    return _build(
        service_name=service_name,
        service_version=service_version,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        span_exporter=span_exporter,
        log_exporter=log_exporter,
    )


def _build(
    *,
    service_name: str,
    service_version: str,
    tracer_provider: Any,
    logger_provider: Any,
    span_exporter: Any,
    log_exporter: Any,
) -> Telemetry:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    owns_globals = tracer_provider is None and logger_provider is None
    resource = build_resource(service_name=service_name, service_version=service_version)
    owned: list[Any] = []
    if tracer_provider is None:
        tracer_provider = TracerProvider(resource=resource)
        owned.append(tracer_provider)
    if logger_provider is None:
        logger_provider = LoggerProvider(resource=resource)
        owned.append(logger_provider)

    if not getattr(tracer_provider, _MARK, False) and hasattr(
        tracer_provider, "add_span_processor"
    ):
        exporter = span_exporter if span_exporter is not None else _span_exporter_from_env()
        if exporter is not None:
            tracer_provider.add_span_processor(BatchSpanProcessor(RedactingSpanExporter(exporter)))
        setattr(tracer_provider, _MARK, True)
    ship_logs = log_exporter is not None or _exporter_choice("LOGS") != "none"
    if not getattr(logger_provider, _MARK, False) and hasattr(
        logger_provider, "add_log_record_processor"
    ):
        exporter = log_exporter if log_exporter is not None else _log_exporter_from_env()
        if exporter is not None:
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
        setattr(logger_provider, _MARK, True)

    # With OTEL_LOGS_EXPORTER=none no OTLP copy of a log record is even built.
    handler = OtlpLogHandler(logger_provider=logger_provider) if ship_logs else None
    if handler is not None:
        install_otlp_handler(handler)

    telemetry = Telemetry(
        service_name=resource.attributes["service.name"],
        service_version=service_version,
        enabled=True,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        log_handler=handler,
        owns_globals=owns_globals,
        _owned_providers=owned,
    )
    if owns_globals:
        trace.set_tracer_provider(tracer_provider)
        _logs.set_logger_provider(logger_provider)
    if owns_globals and not instrumentation_disabled("httpx"):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        instrumentor = HTTPXClientInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=tracer_provider)
            telemetry._instrumented_httpx = True
    return telemetry


def instrument_httpx_client(client: Any, *, tracer_provider: Any = None) -> None:
    """Trace one httpx client (client spans, ``traceparent`` injected). Idempotent."""
    if (
        sdk_disabled()
        or instrumentation_disabled("httpx")
        or getattr(client, "_is_instrumented_by_opentelemetry", False)
    ):
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider)


def instrument_sqlalchemy(engine: Any, *, tracer_provider: Any = None) -> None:
    """Trace the queries of one SQLAlchemy ``Engine`` or ``AsyncEngine``. Idempotent.

    Only this engine is touched (no global patching of ``create_engine``), so it is safe with
    several engines and in tests. No SQL commenter: statements stay as written. Skipped when
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names ``sqlalchemy``.
    """
    if sdk_disabled() or instrumentation_disabled("sqlalchemy"):
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqla_version
    from opentelemetry.metrics import get_meter

    sync_engine = getattr(engine, "sync_engine", engine)
    if getattr(sync_engine, _MARK, False):
        return
    tracer = trace.get_tracer(
        "opentelemetry.instrumentation.sqlalchemy", sqla_version, tracer_provider
    )
    meter = get_meter("opentelemetry.instrumentation.sqlalchemy", sqla_version)
    connections_usage = meter.create_up_down_counter(
        name="db.client.connections.usage",
        unit="connections",
        description="The number of connections that are currently in state described by the "
        "state attribute.",
    )
    EngineTracer(tracer, sync_engine, connections_usage)  # type: ignore[no-untyped-call]
    setattr(sync_engine, _MARK, True)


def record_exception(span: Span, exc: BaseException, *, description: str | None = None) -> None:
    """Record ``exc`` on ``span`` as an event and set the span status to ERROR."""
    if not span.is_recording():
        return
    span.record_exception(exc)
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, description or f"{type(exc).__name__}: {exc}"))

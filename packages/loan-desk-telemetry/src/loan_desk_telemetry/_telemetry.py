"""Traces and logs over OTLP: providers, exporters, the OTLP log handler, httpx and SQLAlchemy."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

from opentelemetry import _logs, trace
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Span, Status, StatusCode

from loan_desk_telemetry._environment import EXPORTER_CHOICES, ExporterChoice
from loan_desk_telemetry._extras import DISTRIBUTION, available, require
from loan_desk_telemetry._otlp_log_handler import OtlpLogHandler, install_otlp_handler
from loan_desk_telemetry._redaction import redact_attributes, redact_text
from loan_desk_telemetry._resource import build_resource, instrumentation_disabled, sdk_disabled
from loan_desk_telemetry._semconv import apply_semconv_opt_in

if TYPE_CHECKING:
    # Optional extras (sqlalchemy, httpx): named in signatures; imported at run time only by
    # the function that needs one, after require(). The OpenTelemetry types, in
    # opentelemetry-sdk 1.45.2 (opentelemetry-sdk/src/opentelemetry/sdk/...): trace/__init__.py
    # (TracerProvider, ReadableSpan, Event); _logs/_internal/__init__.py, re-exported by
    # _logs/__init__.py (LoggerProvider, ReadableLogRecord); LogRecordExporter in
    # _logs/_internal/export/__init__.py, re-exported by _logs/export/__init__.py (the older
    # LogExporter is its subclass there). The API's logs are still ``opentelemetry._logs``.
    # opentelemetry.sdk._logs is imported at run time by setup_telemetry only: importing it adds
    # a warnings filter (_logs/_internal/__init__.py, ``warnings.simplefilter("once",
    # LogRecordDroppedAttributesWarning)``), and importing this package changes nothing.
    import httpx
    from opentelemetry.sdk._logs import LoggerProvider as SdkLoggerProvider
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

#: ``OTEL_TRACES_EXPORTER`` / ``OTEL_LOGS_EXPORTER`` and ``OTEL_EXPORTER_OTLP_{signal}_...``.
_Signal: TypeAlias = Literal["TRACES", "LOGS"]
_CHOICES: Final[dict[str, ExporterChoice]] = {choice: choice for choice in EXPORTER_CHOICES}

__all__ = [
    "SHUTDOWN_TIMEOUT_SECONDS",
    "RedactingSpanExporter",
    "Telemetry",
    "instrument_httpx_client",
    "instrument_sqlalchemy",
    "record_exception",
    "setup_telemetry",
]

_log = logging.getLogger("loan_desk_telemetry.telemetry")
_lock = threading.Lock()
_global: Telemetry | None = None
_MARK = "_loan_desk_telemetry_pipeline"

#: How long :meth:`Telemetry.shutdown` may take, whatever the collector does: the last batches
#: get this long to leave, then the exporters are stopped (their retries interrupted) and what is
#: still queued is dropped. A service then stops within about 5 s (uvicorn's own shutdown plus
#: this), inside compose's default 10 s and Kubernetes' 30 s grace periods.
SHUTDOWN_TIMEOUT_SECONDS: Final = 3.0


class _OnceShutdown:
    """``shutdown`` reaches the wrapped exporter once, whoever calls it first: the batch
    processor at the end of its flush, or :meth:`Telemetry.shutdown` interrupting a flush that
    outlives its timeout (the OTLP exporters' ``shutdown`` aborts their retry backoff and closes
    the connection; a second call only logs a complaint)."""

    def _init_once(self, stop: Callable[[], object]) -> None:
        self._stop = stop
        self._stop_lock = threading.Lock()
        self._stopped = False

    def shutdown(self) -> None:
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop()


class RedactingSpanExporter(_OnceShutdown, SpanExporter):
    """Wraps a span exporter; spans leave with sensitive values redacted.

    Attributes and event attributes by key
    (:func:`~loan_desk_telemetry._redaction.redact_attributes`);
    the free text an exception leaves on a span, whoever recorded it (the SDK's
    ``start_as_current_span``, the contrib FastAPI/SQLAlchemy instrumentations, our own code), by
    shape (:func:`~loan_desk_telemetry._redaction.redact_text`): the ``exception.message`` and
    ``exception.stacktrace`` of exception events and the status description. This is the one
    place every span passes before it leaves the process; spans are immutable once ended, so a
    redacted copy is exported (only for the spans that need it; the others pass as they are).
    """

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self._init_once(inner.shutdown)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([_redacted_span(s) for s in spans])

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.inner, "force_flush", None)
        return bool(flush(timeout_millis)) if callable(flush) else True


class _LogExporter(_OnceShutdown):
    """The log exporter as the batch processor sees it: ``shutdown`` once (see
    :class:`_OnceShutdown`), everything else passed through. It has the methods of the SDK's
    ``LogRecordExporter`` without subclassing it (that would import ``opentelemetry.sdk._logs``
    with this module); :func:`_build` hands it to the processor as one."""

    def __init__(self, inner: LogRecordExporter) -> None:
        self.inner = inner
        self._init_once(inner.shutdown)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self.inner.export(batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.inner, "force_flush", None)
        return bool(flush(timeout_millis)) if callable(flush) else True


_EXCEPTION_TEXT_KEYS = ("exception.message", "exception.stacktrace")


def _redacted_event_attributes(event: Event) -> dict[str, Any] | None:
    attributes: Mapping[str, Any] = event.attributes or {}
    changed = redact_attributes(attributes)
    for key in _EXCEPTION_TEXT_KEYS:
        value = (changed or attributes).get(key)
        if isinstance(value, str):
            redacted = redact_text(value)
            if redacted != value:
                changed = changed if changed is not None else dict(attributes)
                changed[key] = redacted
    return changed


def _redacted_span(span: ReadableSpan) -> ReadableSpan:
    from opentelemetry.sdk.trace import Event, ReadableSpan

    attributes = redact_attributes(span.attributes or {})
    new_events = []
    events_changed = False
    for event in span.events:
        event_attrs = _redacted_event_attributes(event)
        if event_attrs is not None:
            events_changed = True
            new_events.append(Event(event.name, event_attrs, event.timestamp))
        else:
            new_events.append(event)
    status = span.status
    if status.description:
        description = redact_text(status.description)
        if description != status.description:
            status = Status(status.status_code, description)
    if attributes is None and not events_changed and status is span.status:
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
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _protocol(signal: _Signal) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def _exporter_choice(signal: _Signal) -> ExporterChoice:
    """``OTEL_TRACES_EXPORTER`` / ``OTEL_LOGS_EXPORTER``: ``otlp`` (default), ``console`` or
    ``none``. ``none`` still creates spans (trace ids reach the log lines) but ships nothing."""
    value = os.environ.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower() or "otlp"
    choice = _CHOICES.get(value)
    if choice is None:
        raise ValueError(f"OTEL_{signal}_EXPORTER={value!r}: use otlp, console or none")
    return choice


def _span_exporter_from_env() -> SpanExporter | None:
    choice = _exporter_choice("TRACES")
    if choice == "none":
        return None
    if choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    return _otlp_span_exporter()


def _log_exporter_from_env() -> LogRecordExporter | None:
    choice = _exporter_choice("LOGS")
    if choice == "none":
        return None
    if choice == "console":
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

        return ConsoleLogRecordExporter()
    return _otlp_log_exporter()


def _otlp_span_exporter() -> SpanExporter:
    # No endpoint argument: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself and,
    # for HTTP, appends /v1/traces to the base endpoint.
    if _protocol("TRACES") == "grpc":
        require(
            "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
            extra="grpc",
            needed_by="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc",
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def _otlp_log_exporter() -> LogRecordExporter:
    if _protocol("LOGS") == "grpc":
        require(
            "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
            extra="grpc",
            needed_by="OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=grpc",
        )
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter as GrpcLogExporter,
        )

        return GrpcLogExporter()
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )

    return HttpLogExporter()


def _run_bounded(steps: Sequence[Callable[[], object]], timeout_seconds: float) -> bool:
    """Run ``steps`` side by side in daemon threads; True when all ended within the timeout.

    Daemon threads: one stuck on a collector that never answers does not keep the process
    alive (the exporter's request ends at its own timeout, or with the process)."""
    threads = [
        threading.Thread(target=step, name="telemetry-shutdown", daemon=True) for step in steps
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


@dataclass
class Telemetry:
    """Handle on what :func:`setup_telemetry` built. ``enabled`` is False under
    ``OTEL_SDK_DISABLED=true`` (the providers are then the API's no-op ones)."""

    service_name: str
    service_version: str
    enabled: bool
    tracer_provider: trace.TracerProvider
    logger_provider: _logs.LoggerProvider
    log_handler: OtlpLogHandler | None = None
    owns_globals: bool = False
    _owned_providers: list[SdkTracerProvider | SdkLoggerProvider] = field(
        default_factory=list, repr=False
    )
    _exporters: list[_OnceShutdown] = field(default_factory=list, repr=False)
    _instrumented_httpx: bool = field(default=False, repr=False)
    _shut_down: bool = field(default=False, repr=False)

    def force_flush(self, timeout_millis: int = 10_000) -> None:
        """Export what is queued now (blocking; the SDK's batch processors do not bound this by
        ``timeout_millis``, the exporters' own timeouts do). Tests use it; shutdown does not."""
        for provider in (self.tracer_provider, self.logger_provider):
            flush = getattr(provider, "force_flush", None)
            if callable(flush):
                flush(timeout_millis)

    def shutdown(self, timeout_seconds: float = SHUTDOWN_TIMEOUT_SECONDS) -> bool:
        """Flush and stop the exporters within ``timeout_seconds``, take the OTLP log handler off
        the root logger. Idempotent; also runs at interpreter exit for providers built here.

        Providers built here are shut down (their batch processors export what is queued);
        providers handed in are only flushed. Both run in worker threads, traces and logs side
        by side, for at most ``timeout_seconds``: the SDK 1.45 flush ignores its own timeout and
        each batch goes through the exporter's retries (up to ``OTEL_EXPORTER_OTLP_TIMEOUT``,
        10 s, per batch), which with the collector unreachable took 26-31 s after load. At the
        deadline the exporters are shut down, which interrupts their retry backoff and closes
        their connections; what has not left by then is dropped, with one warning. Returns
        whether everything finished in time.
        """
        global _global  # noqa: PLW0603
        if self._shut_down:
            return True
        self._shut_down = True
        if self.log_handler is not None:
            logging.getLogger().removeHandler(self.log_handler)
        if self._instrumented_httpx:
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor().uninstrument()
        steps = [
            step
            for step in map(self._stop_step, (self.tracer_provider, self.logger_provider))
            if step is not None
        ]
        finished = _run_bounded(steps, timeout_seconds)
        if not finished:
            for exporter in self._exporters:
                exporter.shutdown()
            _log.warning(
                "telemetry.shutdown_incomplete",
                extra={
                    "timeout_seconds": timeout_seconds,
                    "detail": "the collector did not take the last telemetry in time; "
                    "what was still queued is dropped",
                },
            )
        with _lock:
            if _global is self:
                _global = None
        return finished

    def _stop_step(self, provider: object) -> Callable[[], object] | None:
        """A provider built here is shut down; one handed in is only flushed (if it can be)."""
        for owned in self._owned_providers:
            if owned is provider:
                return owned.shutdown
        flush = getattr(provider, "force_flush", None)
        return flush if callable(flush) else None

    def instrument_httpx(self, client: httpx.Client | httpx.AsyncClient) -> None:
        """Trace one ``httpx.Client``/``AsyncClient`` with this handle's tracer provider."""
        if self.enabled:
            instrument_httpx_client(client, tracer_provider=self.tracer_provider)


def setup_telemetry(
    *,
    service_name: str,
    service_version: str,
    tracer_provider: trace.TracerProvider | None = None,
    logger_provider: _logs.LoggerProvider | None = None,
    span_exporter: SpanExporter | None = None,
    log_exporter: LogRecordExporter | None = None,
) -> Telemetry:
    """Traces and logs over OTLP, configured by the standard ``OTEL_*`` variables.

    Without providers: builds an SDK ``TracerProvider`` (sampler from ``OTEL_TRACES_SAMPLER``)
    and ``LoggerProvider`` with the resource of
    :func:`loan_desk_telemetry._resource.build_resource`,
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
    :class:`~loan_desk_telemetry._otlp_log_handler.OtlpLogHandler`.
    """
    apply_semconv_opt_in()
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
    tracer_provider: trace.TracerProvider | None,
    logger_provider: _logs.LoggerProvider | None,
    span_exporter: SpanExporter | None,
    log_exporter: LogRecordExporter | None,
) -> Telemetry:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    owns_globals = tracer_provider is None and logger_provider is None
    resource = build_resource(service_name=service_name, service_version=service_version)
    owned: list[SdkTracerProvider | SdkLoggerProvider] = []
    exporters: list[_OnceShutdown] = []
    # No SDK exit hooks (their flush is unbounded, up to 30 s per processor with the collector
    # away): the handle's own bounded shutdown is registered instead, below.
    if tracer_provider is None:
        sdk_tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        owned.append(sdk_tracer_provider)
        tracer_provider = sdk_tracer_provider
    if logger_provider is None:
        sdk_logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        owned.append(sdk_logger_provider)
        logger_provider = sdk_logger_provider

    if not getattr(tracer_provider, _MARK, False) and hasattr(
        tracer_provider, "add_span_processor"
    ):
        span_exp = span_exporter if span_exporter is not None else _span_exporter_from_env()
        if span_exp is not None:
            redacting = RedactingSpanExporter(span_exp)
            exporters.append(redacting)
            tracer_provider.add_span_processor(BatchSpanProcessor(redacting))
        setattr(tracer_provider, _MARK, True)
    ship_logs = log_exporter is not None or _exporter_choice("LOGS") != "none"
    if not getattr(logger_provider, _MARK, False) and hasattr(
        logger_provider, "add_log_record_processor"
    ):
        log_exp = log_exporter if log_exporter is not None else _log_exporter_from_env()
        if log_exp is not None:
            wrapped = _LogExporter(log_exp)
            exporters.append(wrapped)
            processor = BatchLogRecordProcessor(cast("LogRecordExporter", wrapped))
            logger_provider.add_log_record_processor(processor)
        setattr(logger_provider, _MARK, True)

    # With OTEL_LOGS_EXPORTER=none no OTLP copy of a log record is even built.
    handler = OtlpLogHandler(logger_provider=logger_provider) if ship_logs else None
    if handler is not None:
        install_otlp_handler(handler)

    telemetry = Telemetry(
        service_name=str(resource.attributes["service.name"]),
        service_version=service_version,
        enabled=True,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        log_handler=handler,
        owns_globals=owns_globals,
        _owned_providers=owned,
        _exporters=exporters,
    )
    if owned:
        atexit.register(telemetry.shutdown)
    if owns_globals:
        trace.set_tracer_provider(tracer_provider)
        _logs.set_logger_provider(logger_provider)
        if not instrumentation_disabled("httpx"):
            _instrument_httpx_globally(telemetry, tracer_provider)
    return telemetry


def _instrument_httpx_globally(telemetry: Telemetry, tracer_provider: trace.TracerProvider) -> None:
    # Without httpx there is nothing to propagate through; with httpx but without the extra,
    # outgoing calls would silently lose the trace: say so once.
    if not available("httpx"):
        return
    if not available("opentelemetry.instrumentation.httpx"):
        logging.getLogger("loan_desk_telemetry.telemetry").warning(
            "httpx is installed but not traced: install the 'httpx' extra "
            "(pip install '%s[httpx]') for client spans and trace propagation",
            DISTRIBUTION,
        )
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider)
        telemetry._instrumented_httpx = True


def instrument_httpx_client(
    client: httpx.Client | httpx.AsyncClient, *, tracer_provider: trace.TracerProvider | None = None
) -> None:
    """Trace one httpx client (client spans, ``traceparent`` injected). Idempotent."""
    apply_semconv_opt_in()
    if (
        sdk_disabled()
        or instrumentation_disabled("httpx")
        or getattr(client, "_is_instrumented_by_opentelemetry", False)
    ):
        return
    require(
        "opentelemetry.instrumentation.httpx",
        extra="httpx",
        needed_by="loan_desk_telemetry.instrument_httpx_client",
    )
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider)


def instrument_sqlalchemy(
    engine: Engine | AsyncEngine, *, tracer_provider: trace.TracerProvider | None = None
) -> None:
    """Trace the queries of one SQLAlchemy ``Engine`` or ``AsyncEngine``. Idempotent.

    Only this engine is touched (no global patching of ``create_engine``), so it is safe with
    several engines and in tests. No SQL commenter: statements stay as written. Skipped when
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names ``sqlalchemy``.
    """
    apply_semconv_opt_in()
    if sdk_disabled() or instrumentation_disabled("sqlalchemy"):
        return
    require(
        "opentelemetry.instrumentation.sqlalchemy",
        extra="sqlalchemy",
        needed_by="loan_desk_telemetry.instrument_sqlalchemy",
    )
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqla_version
    from opentelemetry.metrics import get_meter
    from sqlalchemy.ext.asyncio import AsyncEngine

    # The SQLAlchemy events fire on the synchronous engine an AsyncEngine wraps.
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
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

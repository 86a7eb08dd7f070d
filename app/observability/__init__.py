"""Observability for a FastAPI service: correlated logs, traces and metrics, set up once.

Three calls, in this order, in the service's ``create_app``::

    from prometheus_client import CollectorRegistry
    import observability

    observability.configure_logging(service_name="loan-api", level="INFO")  # fmt="auto"
    telemetry = observability.setup_telemetry(service_name="loan-api", service_version="1.2.0")
    app = FastAPI(lifespan=lifespan)          # lifespan calls telemetry.shutdown() at the end
    registry = CollectorRegistry()            # or None: prometheus_client.REGISTRY
    observability.instrument_app(app, service_name="loan-api", service_version="1.2.0",
                                 registry=registry)
    observability.instrument_sqlalchemy(engine)            # an AsyncEngine or Engine

and run uvicorn with ``log_config=None`` so it keeps its hands off logging.

What each part sets up
----------------------
``configure_logging``
    structlog through the stdlib: structlog loggers and every library logger (uvicorn,
    SQLAlchemy, httpx, ...) go through one processor chain (``merge_contextvars`` first, level,
    logger name, ``extra`` fields, ISO timestamp, ``trace_id``/``span_id`` of the active span,
    ``service``, redaction) to one stdout handler on the root logger: JSON, or a console
    renderer on a TTY. uvicorn.access is silenced (we write one ``request`` line per request),
    SQLAlchemy/httpx/httpcore at WARNING, libraries' own handlers removed so nothing prints
    twice, OpenTelemetry exporter errors rate-limited (one line per message per minute).
``setup_telemetry``
    OTel SDK tracer and logger providers with the resource (``service.name``,
    ``service.version``, ``service.instance.id``, ``deployment.environment.name``), batch
    processors with bounded queues and OTLP exporters, span attributes redacted on export, the
    ``opentelemetry-instrumentation-logging`` handler on the root logger (every log record leaves
    over OTLP with its trace context and its event fields as attributes), httpx instrumented so
    the trace context propagates to the services we call. Returns a :class:`Telemetry` handle
    (``shutdown()`` flushes).
``instrument_app``
    The server span per request (contrib ``OpenTelemetryMiddleware``; FastAPI's built-in
    telemetry stands down), the pure ASGI :class:`PrometheusMiddleware` (request duration with
    trace exemplars, in-progress, exceptions, ``app_info``), a canonical access line per request
    inside the span, and ``GET /metrics`` (OpenMetrics when the scraper asks).
``instrument_sqlalchemy``
    One CLIENT span per statement on one engine, from ``opentelemetry-instrumentation-sqlalchemy``
    (no global patching, no SQL commenter).
``redact`` / ``SENSITIVE_KEYS``
    The one list of sensitive keys, applied to log lines, OTLP log records and span attributes.
``observability.loggers``
    ``python -m observability.loggers`` prints the logger tree (level, handlers, propagate).

Environment variables honoured
------------------------------
``OTEL_SDK_DISABLED=true``
    every OpenTelemetry part becomes a no-op (logs to stdout and metrics stay).
``OTEL_SERVICE_NAME``
    wins over the ``service_name`` argument (resource, ``service`` log key, ``app_name`` label).
``OTEL_EXPORTER_OTLP_ENDPOINT`` (and ``..._TRACES_/..._LOGS_ENDPOINT``, ``_HEADERS``, ``_TIMEOUT``)
    read by the exporters; the HTTP exporter appends ``/v1/traces`` and ``/v1/logs``.
``OTEL_TRACES_EXPORTER`` / ``OTEL_LOGS_EXPORTER``
    ``otlp`` (default), ``console`` or ``none``. ``none`` for traces still creates spans (trace
    ids reach the log lines) but ships none; ``none`` for logs builds no OTLP record at all
    (for platforms that ship stdout anyway). Any other value is an error at start-up.
``OTEL_EXPORTER_OTLP_PROTOCOL`` (and per signal)
    ``http/protobuf`` (default) or ``grpc``.
``OTEL_RESOURCE_ATTRIBUTES``
    extra resource attributes; ``deployment.environment.name`` defaults to ``development``,
    ``service.instance.id`` to a uuid per process.
``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``
    read by the SDK (default ``parentbased_always_on``).
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``
    comma-separated ``fastapi``, ``sqlalchemy``, ``httpx`` (or ``*``): those tracing
    instrumentations are not installed (as under ``opentelemetry-instrument``). With all three,
    ``OTEL_TRACES_EXPORTER=none`` and ``OTEL_TRACES_SAMPLER=always_off``: metrics and logs only,
    no per-request span cost (docs/observability.md, "Metrics and logs only").
``OTEL_BSP_*`` / ``OTEL_BLRP_*``
    batch sizes and queue bounds (default queue 2048).
``OTEL_SEMCONV_STABILITY_OPT_IN``
    this package sets it to ``http`` when unset (stable HTTP semantic conventions:
    ``http.request.method``, ``http.response.status_code``, ``url.path``), before any
    instrumentation reads it. Import ``observability`` before instrumenting anything else.
``PROMETHEUS_MULTIPROC_DIR``
    prometheus-client multiprocess mode: correct totals across ``uvicorn --workers N``, no
    exemplars (see docs/observability.md). Must be set before ``prometheus_client`` is imported.

Testing: every setup function takes its providers and registry as arguments; pass an SDK
``TracerProvider``/``LoggerProvider`` and ``span_exporter``/``log_exporter`` (in-memory) and a
fresh ``CollectorRegistry``, and nothing global is touched except the root logger's handlers
(:func:`reset_logging` removes them).
"""

from __future__ import annotations

import os

# Before any instrumentation is imported: the contrib packages read it once per process.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

from observability.instrumentation import DEFAULT_EXCLUDED_PATHS, instrument_app
from observability.log_config import (
    ExportErrorRateLimit,
    OtlpLogHandler,
    add_trace_context,
    configure_logging,
    reset_logging,
)
from observability.metrics import HttpMetrics, PrometheusMiddleware
from observability.redaction import (
    REDACTED,
    SENSITIVE_KEYS,
    is_sensitive_key,
    redact,
)
from observability.routes import UNMATCHED
from observability.telemetry import (
    RedactingSpanExporter,
    Telemetry,
    instrument_httpx_client,
    instrument_sqlalchemy,
    record_exception,
    setup_telemetry,
)


def __getattr__(name: str) -> object:
    # Imported lazily so `python -m observability.loggers` runs without a double import.
    if name == "loggers":
        import importlib

        return importlib.import_module("observability.loggers")
    raise AttributeError(f"module 'observability' has no attribute {name!r}")


__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "REDACTED",
    "SENSITIVE_KEYS",
    "UNMATCHED",
    "ExportErrorRateLimit",
    "HttpMetrics",
    "OtlpLogHandler",
    "PrometheusMiddleware",
    "RedactingSpanExporter",
    "Telemetry",
    "add_trace_context",
    "configure_logging",
    "instrument_app",
    "instrument_httpx_client",
    "instrument_sqlalchemy",
    "is_sensitive_key",
    "loggers",
    "record_exception",
    "redact",
    "reset_logging",
    "setup_telemetry",
]

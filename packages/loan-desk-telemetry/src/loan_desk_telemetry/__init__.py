"""Observability for a FastAPI service: correlated logs, traces and metrics, set up once.

Three calls, in this order, in the service's ``create_app``::

    from prometheus_client import CollectorRegistry
    import loan_desk_telemetry

    loan_desk_telemetry.configure_logging(service_name="loan-api", level="INFO")  # fmt="auto"
    telemetry = loan_desk_telemetry.setup_telemetry(
        service_name="loan-api", service_version="1.2.0"
    )
    app = FastAPI(lifespan=lifespan)          # lifespan calls telemetry.shutdown() at the end
    registry = CollectorRegistry()            # or None: prometheus_client.REGISTRY
    loan_desk_telemetry.instrument_app(
        app, service_name="loan-api", service_version="1.2.0", registry=registry
    )
    loan_desk_telemetry.instrument_sqlalchemy(engine)  # an AsyncEngine or Engine

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
    twice, OpenTelemetry export failures as warnings, rate-limited (one line per message per
    minute), exceptions rendered once as a redacted plain traceback.
``setup_telemetry``
    OTel SDK tracer and logger providers with the resource (``service.name``,
    ``service.version``, ``service.instance.id``, ``deployment.environment.name``), batch
    processors with bounded queues and OTLP exporters, span attributes redacted on export, the
    ``opentelemetry-instrumentation-logging`` handler on the root logger (every log record leaves
    over OTLP with its trace context and its event fields as attributes), httpx instrumented so
    the trace context propagates to the services we call. Returns a :class:`Telemetry` handle
    (``shutdown()`` flushes, within 3 s whatever the collector does).
``instrument_app``
    The server span per request (contrib ``OpenTelemetryMiddleware``; FastAPI's built-in
    telemetry stands down), the pure ASGI :class:`PrometheusMiddleware` (request duration with
    trace exemplars, in-progress, exceptions, ``app_info``), a canonical access line per request
    inside the span, and ``GET /metrics`` (OpenMetrics when the scraper asks).
``instrument_sqlalchemy``
    One CLIENT span per statement on one engine, from ``opentelemetry-instrumentation-sqlalchemy``
    (no global patching, no SQL commenter).
``redact`` / ``SENSITIVE_KEYS``
    The one list of sensitive keys, applied to log lines, OTLP log records and span attributes;
    exception text (tracebacks, span status, exception events) goes through ``redact_text``.
``environment_problems``
    The ``OTEL_*`` variables with a value that would fail or be ignored, for a command line to
    refuse before anything starts.
``loan_desk_telemetry.loggers``
    ``python -m loan_desk_telemetry.loggers`` prints the logger tree (level, handlers, propagate).

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
    no per-request span cost (the README, "Metrics and logs only").
``OTEL_BSP_*`` / ``OTEL_BLRP_*``
    read by the SDK's batch processors: export delay (defaults 5 s for spans, 1 s for log
    records; the compose stack sets 500 ms), batch sizes and queue bounds (default queue 2048).
``OTEL_SEMCONV_STABILITY_OPT_IN``
    ``setup_telemetry``, ``instrument_app``, ``instrument_sqlalchemy`` and
    ``instrument_httpx_client`` set it to ``http`` when it is unset or empty (stable HTTP
    semantic conventions: ``http.request.method``, ``http.response.status_code``, ``url.path``),
    before the instrumentation they install reads it; a value you set is left alone. The contrib
    instrumentations read it once per process, when the first of them is set up: call one of
    these before instrumenting anything else. Importing the package changes nothing.
``PROMETHEUS_MULTIPROC_DIR``
    prometheus-client multiprocess mode: correct totals across ``uvicorn --workers N``, no
    exemplars (see the package README). Must be set before ``prometheus_client`` is imported.

Testing: every setup function takes its providers and registry as arguments; pass an SDK
``TracerProvider``/``LoggerProvider`` and ``span_exporter``/``log_exporter`` (in-memory) and a
fresh ``CollectorRegistry``, and nothing global is touched but the root logger's handlers
(:func:`reset_logging` removes them), ``OTEL_SEMCONV_STABILITY_OPT_IN`` when it was unset (see
above), and, on :func:`uninstrument_app`, the contrib's ``BackgroundTask`` tracing, which it
unpatches for the whole process.

Public names
------------
Everything importable from ``loan_desk_telemetry`` is listed here (and in ``__all__``, pinned by a
test); every other module is private (an underscore module) and may change in any release.

Setup: ``configure_logging`` (``LogLevel``, ``LogFormat``: the types of its options),
``reset_logging``, ``setup_telemetry``, ``Telemetry``, ``instrument_app``
(``DEFAULT_EXCLUDED_PATHS``: the paths it does not trace) and its undo ``uninstrument_app``,
``instrument_sqlalchemy``, ``instrument_httpx_client``, ``PrometheusMiddleware`` (what
``instrument_app`` adds, for an app that wires the metrics by hand:
``app.add_middleware(PrometheusMiddleware, app_name=..., registry=registry)``),
``environment_problems``.

Spans and errors: ``record_exception(span, exc)`` (event and ERROR status);
``mark_logged(exc)`` / ``already_logged(exc)`` (an exception logged once with its trace context
is not logged again by the request line).

Redaction: ``redact``, ``redact_text``, ``redact_url`` (user info and sensitive query
parameters), ``exception_message`` (``str(exc)`` redacted), ``SENSITIVE_KEYS``,
``is_sensitive_key``, ``REDACTED``.

Routes: ``route_of(scope, routes)`` (the route template the metrics and the access line use,
``UNMATCHED`` when none matches), ``match_route(routes, scope)`` (the template or ``None``);
``resolve_service_name(name)`` (``OTEL_SERVICE_NAME`` wins).

Modules: ``loan_desk_telemetry.loggers`` (the logger tree) and ``loan_desk_telemetry.testing``
(``capture_telemetry``, ``reset_global_state``: the in-memory pipeline for tests).

``__version__``: the installed distribution's version (``loan-desk-telemetry``, from its metadata).

Types: the signatures name the OpenTelemetry, prometheus-client, SQLAlchemy and httpx types they
take and return (``py.typed``), so mypy ``--strict`` checks a service that uses them.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from loan_desk_telemetry._environment import environment_problems
from loan_desk_telemetry._extras import distribution_version as _distribution_version
from loan_desk_telemetry._instrumentation import (
    DEFAULT_EXCLUDED_PATHS,
    instrument_app,
    uninstrument_app,
)
from loan_desk_telemetry._log_config import LogFormat, LogLevel, configure_logging, reset_logging
from loan_desk_telemetry._metrics import PrometheusMiddleware, already_logged, mark_logged
from loan_desk_telemetry._redaction import (
    REDACTED,
    SENSITIVE_KEYS,
    exception_message,
    is_sensitive_key,
    redact,
    redact_text,
    redact_url,
)
from loan_desk_telemetry._resource import resolve_service_name
from loan_desk_telemetry._routes import UNMATCHED, match_route, route_of
from loan_desk_telemetry._telemetry import (
    Telemetry,
    instrument_httpx_client,
    instrument_sqlalchemy,
    record_exception,
    setup_telemetry,
)

if _TYPE_CHECKING:
    # For type checkers only: at run time they are imported on first use (``__getattr__``).
    from loan_desk_telemetry import loggers, testing

#: The installed distribution's version (``loan-desk-telemetry``, from its metadata).
__version__: str = _distribution_version()

_PUBLIC_MODULES = ("loggers", "testing")


def __getattr__(name: str) -> object:
    # Imported on first use: `python -m loan_desk_telemetry.loggers` runs without a double import,
    # and the test helpers cost nothing in production.
    if name in _PUBLIC_MODULES:
        import importlib

        return importlib.import_module(f"loan_desk_telemetry.{name}")
    raise AttributeError(f"module 'loan_desk_telemetry' has no attribute {name!r}")


__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "REDACTED",
    "SENSITIVE_KEYS",
    "UNMATCHED",
    "LogFormat",
    "LogLevel",
    "PrometheusMiddleware",
    "Telemetry",
    "__version__",
    "already_logged",
    "configure_logging",
    "environment_problems",
    "exception_message",
    "instrument_app",
    "instrument_httpx_client",
    "instrument_sqlalchemy",
    "is_sensitive_key",
    "loggers",
    "mark_logged",
    "match_route",
    "record_exception",
    "redact",
    "redact_text",
    "redact_url",
    "reset_logging",
    "resolve_service_name",
    "route_of",
    "setup_telemetry",
    "testing",
    "uninstrument_app",
]

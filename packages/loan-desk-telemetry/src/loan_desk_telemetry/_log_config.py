"""One logging pipeline: structlog and every stdlib logger through the same processors.

structlog loggers are stdlib loggers underneath (``structlog.stdlib.LoggerFactory``); their event
dict travels to the handlers inside the ``LogRecord`` (``ProcessorFormatter.wrap_for_formatter``)
and records from libraries (uvicorn, SQLAlchemy, httpx, ...) run through the same processors as
``foreign_pre_chain``. The root logger holds the handlers: one stdout handler installed here and,
when :func:`loan_desk_telemetry.setup_telemetry` ran, one OTLP handler (:class:`OtlpLogHandler`).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Final

import structlog
from opentelemetry import trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from structlog.types import EventDict, Processor, WrappedLogger

from loan_desk_telemetry._redaction import (
    exception_message,
    exception_text,
    redact_event_dict,
    redact_text,
)
from loan_desk_telemetry._resource import resolve_service_name

__all__ = [
    "EXPORT_FAILURE_LOGGERS",
    "EXPORT_FAILURE_MESSAGES",
    "LIBRARY_LEVELS",
    "ExportErrorRateLimit",
    "ExportFailureAsWarning",
    "OtlpLogHandler",
    "configure_logging",
    "reset_logging",
]

#: Levels for library loggers. uvicorn.access is silenced: the access line per request is ours.
LIBRARY_LEVELS: Final[Mapping[str, int]] = {
    "uvicorn.access": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "asyncio": logging.WARNING,
}

# Loggers that some servers or `echo=True` give handlers of their own; we take those away so every
# line goes through root exactly once.
_PROPAGATING_LOGGERS: Final = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn",
    "gunicorn.error",
    "gunicorn.access",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.engine.Engine",
    "sqlalchemy.pool",
    "httpx",
    "httpcore",
    "fastapi",
)

_OWNED = "_observability_owned"
_OTEL_NAMESPACE = "opentelemetry"

# Standard LogRecord attributes: anything else on a foreign record came in through `extra=`.
_RECORD_ATTRS: Final = frozenset(
    vars(logging.makeLogRecord({})).keys() | {"message", "asctime", "taskName"}
)


class _Pipeline:
    """Current processor chain, shared by the stdout formatter and the OTLP handler.

    ``generation`` changes with every (re)configuration, so callers that keep a bound logger
    (the access line) know when to make a new one.
    """

    def __init__(self) -> None:
        self.service_name = ""
        self.pre_chain: list[Processor] = _shared_processors()
        self.generation = 0


def add_trace_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Add ``trace_id`` and ``span_id`` (lowercase hex) of the active span, when there is one."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def _add_service(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    if _pipeline.service_name:
        event_dict.setdefault("service", _pipeline.service_name)
    return event_dict


# Extras that libraries add for their own console formatting: uvicorn's `color_message` repeats
# the message with ANSI escapes, which would end up in JSON lines and Loki's structured metadata.
_DROPPED_EXTRAS = ("color_message",)


def _drop_formatting_extras(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    for key in _DROPPED_EXTRAS:
        event_dict.pop(key, None)
    return event_dict


_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exc_info(value: Any) -> _ExcInfo | None:
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    if value is True:
        info = sys.exc_info()
        if info[0] is not None:
            return info
    return None


def render_exception(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the exception of ``exc_info`` rendered into ``exception`` as a plain
    traceback (no local variables) through :func:`~loan_desk_telemetry._redaction.redact_text`.

    Every sink takes its exception text from here: the JSON and console renderers print
    ``exception``; the OTLP handler sends it as ``exception.stacktrace``. ``exc_info`` stays in
    the event dict as a tuple (the OTLP handler reads the type from it) and is dropped before
    rendering, so no renderer formats the exception a second time, unredacted.
    """
    info = _exc_info(event_dict.get("exc_info"))
    if info is not None:
        event_dict["exc_info"] = info
        event_dict["exception"] = exception_text(info[1])
        return event_dict
    event_dict.pop("exc_info", None)
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = redact_text(exception)
    return event_dict


def _drop_exc_info(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("exc_info", None)
    return event_dict


def _shared_processors() -> list[Processor]:
    # merge_contextvars first: request-scoped keys bound with bind_contextvars reach every line,
    # stdlib ones included. Redaction last, so it sees every key any processor added.
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_formatting_extras,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        _add_service,
        structlog.processors.StackInfoRenderer(),
        render_exception,
        redact_event_dict,
    ]


_pipeline = _Pipeline()


# What the OTLP exporters log at ERROR when a batch cannot be delivered (collector down, refusing
# or not answering). Checked against the locked sources by
# tests/unit/package/test_export_failures.py:
# - opentelemetry-exporter-otlp-common 0.66b2, exporter/otlp/common/http.py,
#   _OTLPHTTPClient.export, through the logger of the HTTP exporter module that owns the client;
# - opentelemetry-exporter-otlp-proto-grpc 1.45.2, exporter/otlp/proto/grpc/exporter.py,
#   OTLPExporterMixin._export.
EXPORT_FAILURE_MESSAGES: Final = frozenset(
    {
        "Failed to export %s batch code: %s, reason: %s",
        "Failed to export %s batch due to timeout, max retries or shutdown.",
        "Failed to export %s to %s, error code: %s, error details: %s",
    }
)
EXPORT_FAILURE_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
)


class ExportFailureAsWarning(logging.Filter):
    """On the OTLP exporters' loggers: a batch that could not be delivered is a WARNING.

    The service keeps serving while the collector is away and the lost telemetry is the only
    consequence; ERROR stays for what breaks a request. Other records pass unchanged (an
    exporter that raises, for instance, is still an ERROR with its traceback).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING and record.msg in EXPORT_FAILURE_MESSAGES:
            record.levelno = logging.WARNING
            record.levelname = "WARNING"
        return True


# Digits and addresses vary between two reports of the same fault ("retrying in 1.04s", a port,
# an object at 0x7f...); the rate limit ignores them.
_VARYING: Final = re.compile(r"0x[0-9a-fA-F]+|\d+(?:\.\d+)?")
_RATE_LIMIT_KEYS: Final = 1024


class ExportErrorRateLimit(logging.Filter):
    """Let through at most one record per ``interval`` seconds per (logger, message) from the
    OpenTelemetry SDK and exporters, so a collector outage produces a few lines instead of one
    per failed batch. The message is the rendered one with numbers ignored, so "dropping Span"
    and "dropping LogRecord" are two messages and "retrying in 1.04s"/"2.31s" one. Records from
    other loggers pass untouched.
    """

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_OTEL_NAMESPACE):
            return True
        try:
            message = record.getMessage()
        except Exception:  # malformed arguments: the template still names the fault
            message = str(record.msg)
        key = (record.name, _VARYING.sub("#", message))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            if len(self._last) >= _RATE_LIMIT_KEYS:  # bounded, whatever the messages hold
                self._last.clear()
                self._suppressed.clear()
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            record.suppressed_since_last = suppressed
        return True


class DropRelogged(logging.Filter):
    """Drop a server's report of an exception that the metrics middleware already logged inside
    the request span (uvicorn's "Exception in ASGI application" comes after the span ended and
    would be a second, trace-less copy of the same traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name != "loan_desk_telemetry.access":
            exc = record.exc_info[1]
            if getattr(exc, "__observability_logged__", False):
                return False
        return True


def _structlog_event_dict(record: logging.LogRecord) -> dict[str, Any]:
    """The processed event dict of a record: structlog's own, or the pre-chain run on a foreign
    record (the same thing the stdout formatter does)."""
    if isinstance(record.msg, dict):
        return dict(record.msg)
    event_dict: dict[str, Any] = {
        "event": record.getMessage(),
        "_record": record,
        "_from_structlog": False,
    }
    if record.exc_info:
        event_dict["exc_info"] = record.exc_info
    logger = logging.getLogger(record.name)
    for processor in _pipeline.pre_chain:
        event_dict = processor(logger, record.levelname.lower(), event_dict)  # type: ignore[assignment]
    return event_dict


# Event keys that are already on an OTLP log record in their own field (body, severity, trace
# context, scope name, resource service.name) are not repeated as attributes.
_NOT_ATTRIBUTES: Final = frozenset(
    {
        "event",
        "level",
        "logger",
        "timestamp",
        "trace_id",
        "span_id",
        "service",
        "exc_info",
        "exception",
        "stack_info",
        "_record",
        "_from_structlog",
        "_logger",
        "_name",
    }
)


def _attribute_value(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, str | bool | int | float) for v in value
    ):
        return list(value)
    return str(value)


class OtlpLogHandler(LoggingHandler):
    """The ``opentelemetry-instrumentation-logging`` handler, fed the structlog event dict.

    Each record leaves as one OTLP log record: body = the event message, severity from the level,
    trace context from the active span (the handler reads the current context), and every other
    event key (already redacted) as an attribute. Records of the OpenTelemetry SDK and exporters
    are not shipped: reporting an export failure through the failing exporter only feeds a loop.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_OTEL_NAMESPACE):
            return
        try:
            prepared = self._prepare(record)
        except Exception:  # never let telemetry break a log call
            self.handleError(record)
            return
        super().emit(prepared)

    @staticmethod
    def _prepare(record: logging.LogRecord) -> logging.LogRecord:
        event_dict = _structlog_event_dict(record)
        # A bare LogRecord with only the fields the handler reads (and the filters: name,
        # exc_info): logging.makeLogRecord would run LogRecord.__init__ (thread, process, path
        # and module lookups) once more for every record.
        out = logging.LogRecord.__new__(logging.LogRecord)
        fields = out.__dict__
        # The exception leaves as the pre-chain rendered it (redacted), never as exc_info: the
        # handler would format the raw traceback and str(exception) itself.
        exc_info = _exc_info(event_dict.get("exc_info"))
        fields.update(
            name=record.name,
            levelno=record.levelno,
            levelname=record.levelname,
            msg=str(event_dict.get("event", "")),
            args=None,
            created=record.created,
            msecs=record.msecs,
            pathname=record.pathname,
            lineno=record.lineno,
            funcName=record.funcName,
            exc_info=None,
            exc_text=None,
            stack_info=None,
        )
        if exc_info is not None:
            # The semantic-convention attributes the handler would have set, redacted.
            fields["exception.type"] = exc_info[0].__name__
            fields["exception.message"] = exception_message(exc_info[1])
        if isinstance(event_dict.get("exception"), str):
            fields["exception.stacktrace"] = event_dict["exception"]
        for key, value in event_dict.items():
            if key in _NOT_ATTRIBUTES:
                continue
            # A key that is also a LogRecord attribute ("name", "args", ...) keeps a suffix
            # rather than clobbering the record.
            name = f"{key}_" if key in _RECORD_ATTRS else key
            fields[name] = _attribute_value(value)
        return out


def _renderer(fmt: str, stream: IO[str]) -> list[Processor]:
    console = fmt == "console" or (fmt == "auto" and _isatty(stream))
    if console:
        return [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_exc_info,  # `exception` is already rendered (and redacted) by the pre-chain
            structlog.dev.ConsoleRenderer(),
        ]
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        _drop_exc_info,
        structlog.processors.JSONRenderer(),
    ]


def _isatty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # closed stream
        return False


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}")
    return value


def configure_logging(
    *,
    service_name: str,
    level: str = "INFO",
    fmt: str = "auto",
    stream: IO[str] | None = None,
) -> None:
    """Route structlog and all stdlib loggers through one processor chain to ``stream``.

    ``fmt``: ``"json"``, ``"console"`` or ``"auto"`` (console on a TTY, else JSON). ``stream``
    defaults to ``sys.stdout``. Idempotent: a second call replaces the handler of the first.
    ``OTEL_SERVICE_NAME``, when set, wins over ``service_name`` (as in ``setup_telemetry``).
    """
    if fmt not in {"auto", "json", "console"}:
        raise ValueError(f"fmt must be auto, json or console, not {fmt!r}")
    stream = stream if stream is not None else sys.stdout
    _pipeline.service_name = resolve_service_name(service_name)
    _pipeline.pre_chain = _shared_processors()
    _pipeline.generation += 1

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_pipeline.pre_chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # Not cached: a re-configuration (tests, a second call) reaches loggers made earlier.
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pipeline.pre_chain,
        processors=_renderer(fmt, stream),
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ExportErrorRateLimit())
    handler.addFilter(DropRelogged())
    setattr(handler, _OWNED, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OWNED, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))

    for name in _PROPAGATING_LOGGERS:
        lib = logging.getLogger(name)
        for old in list(lib.handlers):
            lib.removeHandler(old)
        lib.propagate = True
    for name, lib_level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(lib_level)
    for name in EXPORT_FAILURE_LOGGERS:
        exporter_logger = logging.getLogger(name)
        if not any(isinstance(f, ExportFailureAsWarning) for f in exporter_logger.filters):
            exporter_logger.addFilter(ExportFailureAsWarning())


def reset_logging() -> None:
    """Undo :func:`configure_logging` and remove the OTLP handler (for tests)."""
    root = logging.getLogger()
    for old in [
        h for h in root.handlers if getattr(h, _OWNED, False) or isinstance(h, OtlpLogHandler)
    ]:
        root.removeHandler(old)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    _pipeline.service_name = ""
    _pipeline.pre_chain = _shared_processors()
    _pipeline.generation += 1


def bound_logger(name: str) -> Any:
    """A structlog logger for ``name``, made once per logging configuration.

    structlog is configured without logger caching (a re-configuration must reach loggers made
    earlier); a hot path that logs on every request keeps the bound logger this returns instead of
    having a lazy proxy bind a new one on each call.
    """
    key = (name, _pipeline.generation)
    logger = _bound.get(key)
    if logger is None:
        _bound.clear()
        logger = structlog.stdlib.get_logger(name).bind()
        _bound[key] = logger
    return logger


_bound: dict[tuple[str, int], Any] = {}


def install_otlp_handler(handler: OtlpLogHandler) -> None:
    """Put ``handler`` on the root logger, replacing an earlier OTLP handler (idempotent)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, OtlpLogHandler)]:
        root.removeHandler(old)
    handler.addFilter(DropRelogged())
    root.addHandler(handler)

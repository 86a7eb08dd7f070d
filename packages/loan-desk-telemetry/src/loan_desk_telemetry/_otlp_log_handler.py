"""The OTLP log handler: each stdlib record, processed like a log line, leaves as an OTLP log.

It subclasses the ``opentelemetry-instrumentation-logging`` handler
(opentelemetry-python-contrib, instrumentation/opentelemetry-instrumentation-logging,
src/opentelemetry/instrumentation/logging/handler.py, 0.66b2: ``LoggingHandler.__init__(level,
logger_provider, log_code_attributes)``, ``emit`` translating ``record.msg`` into the body and
the record's non-standard attributes into log attributes, ``flush`` running the provider's
``force_flush`` in a thread). What it adds: the body, attributes and exception come from the
structlog event dict (already redacted), never from the raw record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, cast

from opentelemetry._logs import LoggerProvider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.util.types import AnyValue
from structlog.typing import EventDict, Processor

from loan_desk_telemetry._log_filters import OTEL_NAMESPACE, DropRelogged
from loan_desk_telemetry._log_processors import as_exc_info, pre_chain
from loan_desk_telemetry._redaction import exception_message

__all__ = ["OtlpLogHandler", "install_otlp_handler"]

# Standard LogRecord attributes: anything else on a foreign record came in through `extra=`.
_RECORD_ATTRS: Final = frozenset(
    vars(logging.makeLogRecord({})).keys() | {"message", "asctime", "taskName"}
)

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


def _attribute_value(value: object) -> AnyValue:
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
    event key (already redacted) as an attribute. A record that structlog made carries its
    processed event dict; any other record (a library's) goes through ``foreign_pre_chain``, the
    same processors the stdout formatter runs (the default: :func:`pre_chain` without a service,
    which the resource carries). Records of the OpenTelemetry SDK and exporters are not shipped:
    reporting an export failure through the failing exporter only feeds a loop. Nothing the
    handler or the OpenTelemetry pipeline raises reaches the code that logged.
    """

    def __init__(
        self,
        level: int = logging.NOTSET,
        logger_provider: LoggerProvider | None = None,
        *,
        foreign_pre_chain: Sequence[Processor] | None = None,
    ) -> None:
        super().__init__(level=level, logger_provider=logger_provider)
        self.foreign_pre_chain: tuple[Processor, ...] = tuple(
            pre_chain() if foreign_pre_chain is None else foreign_pre_chain
        )

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(OTEL_NAMESPACE):
            return
        try:
            super().emit(self._prepare(record))
        except Exception:  # never let telemetry break a log call
            self.handleError(record)

    def event_dict(self, record: logging.LogRecord) -> EventDict:
        """The processed event dict of ``record``: structlog's own, or the pre-chain run on a
        foreign record (the same thing the stdout formatter does)."""
        if isinstance(record.msg, dict):
            return dict(record.msg)
        event_dict: EventDict = {
            "event": record.getMessage(),
            "_record": record,
            "_from_structlog": False,
        }
        if record.exc_info:
            event_dict["exc_info"] = record.exc_info
        logger = logging.getLogger(record.name)
        method = record.levelname.lower()
        for processor in self.foreign_pre_chain:
            # The pre-chain has no renderer: every processor returns the event dict.
            event_dict = cast("EventDict", processor(logger, method, event_dict))
        return event_dict

    def _prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        event_dict = self.event_dict(record)
        # A bare LogRecord with only the fields the handler reads (and the filters: name,
        # exc_info): logging.makeLogRecord would run LogRecord.__init__ (thread, process, path
        # and module lookups) once more for every record.
        out = logging.LogRecord.__new__(logging.LogRecord)
        fields = out.__dict__
        # The exception leaves as the pre-chain rendered it (redacted), never as exc_info: the
        # handler would format the raw traceback and str(exception) itself.
        exc_info = as_exc_info(event_dict.get("exc_info"))
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


def install_otlp_handler(handler: OtlpLogHandler) -> None:
    """Put ``handler`` on the root logger, replacing an earlier OTLP handler (idempotent)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, OtlpLogHandler)]:
        root.removeHandler(old)
    if not any(isinstance(f, DropRelogged) for f in handler.filters):
        handler.addFilter(DropRelogged())
    root.addHandler(handler)

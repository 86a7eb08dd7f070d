"""The structlog processors of the logging pipeline, and the chain they form.

Each processor follows structlog's protocol (``structlog.typing.Processor``: a callable taking
the wrapped logger, the method name and the event dict, returning the event dict; checked
against hynek/structlog, docs/processors.md and src/structlog/typing.py, as installed at the
version in uv.lock, 26.1.0). A processor that needs a setting takes it in ``__init__`` and its
``__call__`` reads nothing else: no module state, so two pipelines (or a test) can hold
differently configured processors side by side.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Final

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from loan_desk_telemetry._redaction import exception_text, redact_event_dict, redact_text

__all__ = [
    "FORMATTING_EXTRAS",
    "AddService",
    "DropKeys",
    "add_trace_context",
    "as_exc_info",
    "pre_chain",
    "render_exception",
    "renderer_chain",
]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# Extras that libraries add for their own console formatting: uvicorn's `color_message` repeats
# the message with ANSI escapes, which would end up in JSON lines and Loki's structured metadata.
FORMATTING_EXTRAS: Final = ("color_message",)


class AddService:
    """Set ``service`` to the configured name (unless the event already has one).

    An empty name adds nothing: the OTLP copy of a record carries the service in its resource.
    """

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        if self.service_name:
            event_dict.setdefault("service", self.service_name)
        return event_dict

    def __repr__(self) -> str:
        return f"AddService({self.service_name!r})"


class DropKeys:
    """Remove the configured keys from the event dict."""

    def __init__(self, *keys: str) -> None:
        self.keys = keys

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for key in self.keys:
            event_dict.pop(key, None)
        return event_dict

    def __repr__(self) -> str:
        return f"DropKeys{self.keys!r}"


def add_trace_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Add ``trace_id`` and ``span_id`` (lowercase hex) of the active span, when there is one.

    Its only input is the OpenTelemetry context of the caller (a context variable), which is
    what makes a line belong to its request; there is nothing to configure.
    """
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def as_exc_info(value: object) -> ExcInfo | None:
    """``exc_info`` as logging accepts it (an exception, a tuple, ``True``) as a tuple, or None."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return (type(value[1]), value[1], value[2])
    if value is True:
        info = sys.exc_info()
        if info[1] is not None:
            return (type(info[1]), info[1], info[2])
    return None


def render_exception(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The exception of ``exc_info`` rendered into ``exception`` as a plain traceback (no local
    variables) through :func:`~loan_desk_telemetry._redaction.redact_text`.

    Every sink takes its exception text from here: the JSON and console renderers print
    ``exception``; the OTLP handler sends it as ``exception.stacktrace``. ``exc_info`` stays in
    the event dict as a tuple (the OTLP handler reads the type from it) and is dropped before
    rendering, so no renderer formats the exception a second time, unredacted.
    """
    info = as_exc_info(event_dict.get("exc_info"))
    if info is not None:
        event_dict["exc_info"] = info
        event_dict["exception"] = exception_text(info[1])
        return event_dict
    event_dict.pop("exc_info", None)
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = redact_text(exception)
    return event_dict


def pre_chain(service_name: str = "") -> list[Processor]:
    """The processors every record goes through, structlog's and the stdlib's alike.

    ``merge_contextvars`` first: request-scoped keys bound with ``bind_contextvars`` reach every
    line, stdlib ones included. Redaction last, so it sees every key any processor added.
    """
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        DropKeys(*FORMATTING_EXTRAS),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        AddService(service_name),
        structlog.processors.StackInfoRenderer(),
        render_exception,
        redact_event_dict,
    ]


def renderer_chain(*, console: bool) -> list[Processor]:
    """What turns the processed event dict into a line: the console renderer or JSON.

    ``exception`` is already rendered (and redacted) by the pre-chain; ``exc_info`` is dropped
    so the renderer does not format the raw exception a second time.
    """
    renderer: Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        DropKeys("exc_info"),
        renderer,
    ]

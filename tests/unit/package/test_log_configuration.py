"""The logging pipeline piece by piece: each processor on its own (configured in ``__init__``,
nothing else read), and configure_logging / reset_logging as a pair that leaves no trace."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

import loan_desk_telemetry
from loan_desk_telemetry import REDACTED, configure_logging, reset_logging
from loan_desk_telemetry._log_config import LIBRARY_LEVELS, LOG_FORMATS, LOG_LEVELS
from loan_desk_telemetry._log_filters import (
    EXPORT_FAILURE_LOGGERS,
    ExportFailureAsWarning,
)
from loan_desk_telemetry._log_processors import (
    AddService,
    DropKeys,
    add_trace_context,
    as_exc_info,
    pre_chain,
    render_exception,
)
from loan_desk_telemetry._logger_cache import bound_logger
from loan_desk_telemetry._otlp_log_handler import OtlpLogHandler, install_otlp_handler

EMAIL = "ana.rossi@example.org"


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


# --- processors ---------------------------------------------------------------------------------


def test_add_service_uses_its_own_name_only() -> None:
    first, second = AddService("loan-api"), AddService("doc-tagger")
    assert first(None, "info", {"event": "e"}) == {"event": "e", "service": "loan-api"}
    assert second(None, "info", {"event": "e"}) == {"event": "e", "service": "doc-tagger"}
    # An explicit key wins; an empty name adds nothing.
    assert first(None, "info", {"service": "other"}) == {"service": "other"}
    assert AddService("")(None, "info", {"event": "e"}) == {"event": "e"}


def test_drop_keys_removes_exactly_its_keys() -> None:
    drop = DropKeys("color_message", "exc_info")
    event = {"event": "e", "color_message": "\x1b[36m", "exc_info": True, "n": 1}
    assert drop(None, "info", event) == {"event": "e", "n": 1}
    assert drop(None, "info", {"event": "e"}) == {"event": "e"}


def test_trace_context_only_inside_a_valid_span() -> None:
    assert add_trace_context(None, "info", {"event": "e"}) == {"event": "e"}
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        event = add_trace_context(None, "info", {"event": "e"})
    ctx = span.get_span_context()
    assert event == {
        "event": "e",
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
    }
    assert len(event["trace_id"]) == 32
    assert len(event["span_id"]) == 16


def test_render_exception_renders_redacted_text_and_keeps_the_tuple() -> None:
    try:
        raise ValueError(f"no account for {EMAIL}")
    except ValueError as exc:
        caught = exc
        event = render_exception(None, "error", {"event": "e", "exc_info": True})
    assert event["exc_info"] == (ValueError, caught, caught.__traceback__)
    assert event["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: no account for [REDACTED]" in event["exception"]
    assert EMAIL not in event["exception"]


def test_render_exception_without_an_exception() -> None:
    # exc_info=False (or True outside an except block) is dropped; a text exception is redacted.
    assert render_exception(None, "info", {"event": "e", "exc_info": False}) == {"event": "e"}
    event = render_exception(None, "info", {"event": "e", "exception": f"for {EMAIL}"})
    assert event == {"event": "e", "exception": "for [REDACTED]"}


def test_as_exc_info_accepts_what_logging_accepts() -> None:
    exc = KeyError("k")
    assert as_exc_info(exc) == (KeyError, exc, None)
    assert as_exc_info((KeyError, exc, None)) == (KeyError, exc, None)
    assert as_exc_info((None, None, None)) is None
    assert as_exc_info(True) is None  # outside an except block
    assert as_exc_info("boom") is None


def test_pre_chains_are_independent() -> None:
    def service_of(chain: list[Any]) -> list[str]:
        return [p.service_name for p in chain if isinstance(p, AddService)]

    assert service_of(pre_chain("one")) == ["one"]
    assert service_of(pre_chain("two")) == ["two"]
    assert service_of(pre_chain()) == [""]


def test_two_configurations_do_not_share_a_service_name() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(service_name="one", fmt="json", stream=first)
    logging.getLogger("lib").warning("a")
    configure_logging(service_name="two", fmt="json", stream=second)
    logging.getLogger("lib").warning("b")
    structlog.get_logger("app").warning("c")
    assert [(line["event"], line["service"]) for line in _lines(first)] == [("a", "one")]
    assert [(line["event"], line["service"]) for line in _lines(second)] == [
        ("b", "two"),
        ("c", "two"),
    ]


# --- the logger cache ---------------------------------------------------------------------------


def test_bound_loggers_are_kept_until_the_configuration_changes() -> None:
    configure_logging(service_name="svc", fmt="json", stream=io.StringIO())
    first = bound_logger("app")
    assert bound_logger("app") is first
    assert bound_logger("other") is not first
    configure_logging(service_name="svc", fmt="json", stream=io.StringIO())
    second = bound_logger("app")
    assert second is not first
    reset_logging()
    assert bound_logger("app") is not second


# --- configure_logging / reset_logging ----------------------------------------------------------

_WATCHED = sorted({"uvicorn", "uvicorn.access", "sqlalchemy.engine", *LIBRARY_LEVELS})


def _snapshot() -> dict[str, Any]:
    """Everything configure_logging changes, in a comparable form."""
    root = logging.getLogger()
    return {
        "root": (root.level, list(root.handlers)),
        "loggers": {
            name: (
                logging.getLogger(name).level,
                list(logging.getLogger(name).handlers),
                logging.getLogger(name).propagate,
            )
            for name in _WATCHED
        },
        "exporter_filters": {
            name: list(logging.getLogger(name).filters) for name in EXPORT_FAILURE_LOGGERS
        },
        "structlog": (structlog.is_configured(), structlog.get_config()),
    }


@pytest.fixture
def library_state() -> Iterator[logging.Handler]:
    """A library logger with a handler and level of its own, as uvicorn's default config sets."""
    handler = logging.StreamHandler(io.StringIO())
    uvicorn = logging.getLogger("uvicorn")
    saved = (uvicorn.level, uvicorn.propagate)
    uvicorn.addHandler(handler)
    uvicorn.setLevel(logging.DEBUG)
    uvicorn.propagate = False
    yield handler
    uvicorn.removeHandler(handler)
    uvicorn.setLevel(saved[0])
    uvicorn.propagate = saved[1]


def test_reset_undoes_everything_configure_did(library_state: logging.Handler) -> None:
    before = _snapshot()
    configure_logging(service_name="svc", level="DEBUG", fmt="json", stream=io.StringIO())
    uvicorn = logging.getLogger("uvicorn")
    assert (uvicorn.handlers, uvicorn.propagate) == ([], True)
    assert logging.getLogger().level == logging.DEBUG
    assert structlog.is_configured()
    assert _snapshot() != before
    reset_logging()
    assert _snapshot() == before
    assert library_state in uvicorn.handlers


def test_reset_after_two_configurations_restores_the_first_state() -> None:
    before = _snapshot()
    configure_logging(service_name="one", level="ERROR", fmt="json", stream=io.StringIO())
    configure_logging(service_name="two", level="DEBUG", fmt="console", stream=io.StringIO())
    reset_logging()
    assert _snapshot() == before


def test_reset_gives_back_a_structlog_configuration_of_the_user() -> None:
    own: list[Any] = [structlog.processors.KeyValueRenderer()]
    structlog.configure(processors=own, cache_logger_on_first_use=False)
    configure_logging(service_name="svc", fmt="json", stream=io.StringIO())
    assert structlog.get_config()["processors"] is not own
    reset_logging()
    assert structlog.is_configured()
    assert structlog.get_config()["processors"] is own
    reset_logging()  # nothing configured: structlog's configuration stays
    assert structlog.get_config()["processors"] is own


def test_reset_removes_the_otlp_handler_and_bound_context() -> None:
    configure_logging(service_name="svc", fmt="json", stream=io.StringIO())
    install_otlp_handler(OtlpLogHandler())
    structlog.contextvars.bind_contextvars(request_id="r1")
    reset_logging()
    assert not [h for h in logging.getLogger().handlers if isinstance(h, OtlpLogHandler)]
    assert structlog.contextvars.get_contextvars() == {}


def test_configure_is_idempotent() -> None:
    stream = io.StringIO()
    for _ in range(3):
        configure_logging(service_name="svc", fmt="json", stream=stream)
    root = logging.getLogger()
    ours = [
        h for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    assert len(ours) == 1
    for name in EXPORT_FAILURE_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, ExportFailureAsWarning) for f in filters) == 1
    structlog.get_logger("app").info("once")
    assert [line["event"] for line in _lines(stream)] == ["once"]


def test_level_by_number() -> None:
    stream = io.StringIO()
    configure_logging(service_name="svc", level=logging.DEBUG, fmt="json", stream=stream)
    structlog.get_logger("app").debug("seen")
    assert logging.getLogger().level == logging.DEBUG
    assert [line["event"] for line in _lines(stream)] == ["seen"]


def test_the_aliases_list_the_values() -> None:
    assert LOG_LEVELS == ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assert LOG_FORMATS == ("auto", "json", "console")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"level": "verbose"},
            "level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL or a level number, "
            "not 'verbose'",
        ),
        (
            {"level": "info"},
            "level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL or a level number, "
            "not 'info'",
        ),
        (
            {"level": -1},
            "level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL or a level number, not -1",
        ),
        (
            {"level": True},
            "level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL or a level number, "
            "not True",
        ),
        ({"fmt": "pretty"}, "fmt must be one of auto, json, console, not 'pretty'"),
        ({"fmt": None}, "fmt must be one of auto, json, console, not None"),
    ],
)
def test_bad_values_raise_one_line_and_change_nothing(
    arguments: dict[str, Any], message: str
) -> None:
    before = _snapshot()
    with pytest.raises(ValueError, match="must be one of") as raised:
        loan_desk_telemetry.configure_logging(service_name="svc", **arguments)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)
    assert _snapshot() == before


def test_redaction_still_reaches_every_line() -> None:
    stream = io.StringIO()
    configure_logging(service_name="svc", fmt="json", stream=stream)
    structlog.get_logger("app").info("login", password="hunter2", email=EMAIL)
    logging.getLogger("lib").info("login", extra={"token": "t0k"})
    first, second = _lines(stream)
    assert (first["password"], first["email"], second["token"]) == (REDACTED,) * 3

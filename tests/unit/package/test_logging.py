from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog

import loan_desk_telemetry
from loan_desk_telemetry._log_filters import ExportErrorRateLimit
from loan_desk_telemetry.loggers import logger_tree, main


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_structlog_and_stdlib_share_one_json_pipeline() -> None:
    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    structlog.get_logger("app").info("hello", n=1, token="t0k")
    logging.getLogger("sqlalchemy.engine.Engine").warning("slow %s", "query", extra={"ms": 9})
    logging.getLogger("uvicorn.error").info("Started server process")
    out = lines(stream)
    assert [(line["logger"], line["event"]) for line in out] == [
        ("app", "hello"),
        ("sqlalchemy.engine.Engine", "slow query"),
        ("uvicorn.error", "Started server process"),
    ]
    assert out[0]["token"] == "[REDACTED]"
    assert out[1]["ms"] == 9
    assert {line["service"] for line in out} == {"svc"}
    assert all("trace_id" not in line for line in out)  # no active span


def test_configure_twice_adds_no_second_handler() -> None:
    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    structlog.get_logger("app").info("once")
    logging.getLogger("lib").warning("once too")
    assert [line["event"] for line in lines(stream)] == ["once", "once too"]


def test_library_levels_and_uvicorn_access_silenced() -> None:
    stream = io.StringIO()
    logging.getLogger("uvicorn.access").addHandler(logging.StreamHandler(io.StringIO()))
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    logging.getLogger("httpx").info("HTTP Request: GET http://x")
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")
    logging.getLogger("httpx").warning("kept")
    assert [line["event"] for line in lines(stream)] == ["kept"]
    assert logging.getLogger("uvicorn.access").handlers == []
    assert logging.getLogger("uvicorn.access").propagate is True


def test_level_argument_and_contextvars() -> None:
    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(
        service_name="svc", level="WARNING", fmt="json", stream=stream
    )
    structlog.get_logger("app").info("dropped")
    with structlog.contextvars.bound_contextvars(request_id="r1"):
        structlog.get_logger("app").warning("kept")
        logging.getLogger("lib").error("kept too")
    out = lines(stream)
    assert [line["event"] for line in out] == ["kept", "kept too"]
    assert [line["request_id"] for line in out] == ["r1", "r1"]


def test_console_renderer_when_asked() -> None:
    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="console", stream=stream)
    structlog.get_logger("app").info("hello", n=1)
    text = stream.getvalue()
    assert "hello" in text
    assert not text.startswith("{")


def test_otel_service_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    structlog.get_logger("app").info("x")
    assert lines(stream)[0]["service"] == "from-env"


def test_export_error_rate_limit() -> None:
    limit = ExportErrorRateLimit(interval=60)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.makeLogRecord({"name": name, "msg": msg, "levelno": logging.ERROR})

    exporter = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    results = [limit.filter(record(exporter, "Failed to export %s")) for _ in range(10)]
    assert results == [True] + [False] * 9
    assert limit.filter(record(exporter, "another message")) is True
    assert all(limit.filter(record("app", "same")) for _ in range(3))
    limit._last = {k: v - 61 for k, v in limit._last.items()}
    again = record(exporter, "Failed to export %s")
    assert limit.filter(again) is True
    assert again.suppressed_since_last == 9


def test_logger_tree_lists_levels_handlers_propagate() -> None:
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=sys.stdout)
    logging.getLogger("uvicorn.access")
    tree = logger_tree()
    assert tree[0] == "root level=INFO"
    root_handlers = tree[1 : tree.index(next(t for t in tree if t.startswith("+ ")))]
    # pytest adds its own capture handlers to root; ours is there exactly once.
    ours = "    handler StreamHandler level=NOTSET formatter=ProcessorFormatter"
    assert root_handlers.count(ours) == 1
    assert "+ uvicorn.access level=WARNING effective=WARNING propagate=True" in tree
    assert main([]) == 0


def test_console_formatting_extras_of_libraries_are_dropped() -> None:
    import io
    import json
    import logging

    import loan_desk_telemetry

    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 7, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["event"] == "Started server process [7]"
    assert "color_message" not in line

"""The package's spans and cheaper logging paths (docs/performance.md) keep what the issue asks.

- The contrib FastAPI instrumentation gives the one server span, with the stable HTTP
  attributes, the route template, an exception event, excluded paths untraced.
- The contrib SQLAlchemy instrumentation gives one CLIENT span per statement, child of the
  active span; a failing statement ends its span with ERROR.
- The access line's cached logger follows a re-configuration of logging.
- The OTLP copy of a record carries the event fields, redacted, and the trace context.
"""

from __future__ import annotations

import io
import json

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

import loan_desk_telemetry
from loan_desk_telemetry._logger_cache import bound_logger
from loan_desk_telemetry.testing import Capture, capture_telemetry


def _app(capture: Capture) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"thing_id": thing_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    loan_desk_telemetry.instrument_app(
        app,
        service_name="svc",
        service_version="1",
        registry=capture.registry,
        tracer_provider=capture.tracer_provider,
    )
    return app


async def test_one_server_span_per_request_with_stable_attributes() -> None:
    capture = capture_telemetry(service_name="svc")
    app = _app(capture)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/things/7?x=1")).status_code == 200
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/boom")).status_code == 500

    spans = capture.spans()
    assert [s.name for s in spans] == ["GET /things/{thing_id}", "GET /boom"]
    ok, failed = spans
    assert ok.kind is SpanKind.SERVER
    assert ok.instrumentation_scope is not None
    assert ok.instrumentation_scope.name == "opentelemetry.instrumentation.fastapi"
    attributes = dict(ok.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/things/{thing_id}"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == "/things/7"
    assert failed.status.status_code is StatusCode.ERROR
    assert "exception" in [e.name for e in failed.events]


def test_query_spans(tmp_path: object) -> None:
    capture = capture_telemetry(service_name="svc")
    engine = create_engine(f"sqlite:///{tmp_path}/q.db")
    loan_desk_telemetry.instrument_sqlalchemy(engine, tracer_provider=capture.tracer_provider)
    loan_desk_telemetry.instrument_sqlalchemy(
        engine, tracer_provider=capture.tracer_provider
    )  # twice
    tracer = capture.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("parent") as parent, engine.connect() as conn:
        conn.execute(text("/* hint */ SELECT 1 WHERE 1 = :x"), {"x": 1})
        conn.execute(text("SELECT 2"))
        with pytest.raises(OperationalError):
            conn.execute(text("SELECT * FROM nowhere"))
    engine.dispose()

    spans = [s for s in capture.spans() if s.kind is SpanKind.CLIENT]
    database = f"{tmp_path}/q.db"
    assert [s.name for s in spans] == [f"SELECT {database}"] * 3  # instrumented once, not twice
    first, _, failed = spans
    assert first.parent is not None
    assert first.parent.span_id == parent.get_span_context().span_id
    attributes = dict(first.attributes or {})
    assert attributes["db.system"] == "sqlite"
    assert attributes["db.statement"] == "/* hint */ SELECT 1 WHERE 1 = ?"  # no parameter values
    assert failed.status.status_code is StatusCode.ERROR


def test_access_logger_follows_reconfiguration() -> None:
    from loan_desk_telemetry._logger_cache import bound_logger

    first, second = io.StringIO(), io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="one", fmt="json", stream=first)
    bound_logger("loan_desk_telemetry.access").info("request", n=1)
    loan_desk_telemetry.configure_logging(service_name="two", fmt="json", stream=second)
    bound_logger("loan_desk_telemetry.access").info("request", n=2)
    assert [json.loads(line)["service"] for line in first.getvalue().splitlines()] == ["one"]
    assert [json.loads(line)["service"] for line in second.getvalue().splitlines()] == ["two"]


def test_otlp_copy_of_a_record() -> None:
    capture = capture_telemetry(service_name="svc")
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=io.StringIO())
    tracer = capture.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("parent") as span:
        bound = bound_logger("app")
        bound.info("hello", email="jane@example.com", name="clash", count=3)
    (record,) = [r.log_record for r in capture.log_records()]
    assert record.body == "hello"
    assert record.trace_id == span.get_span_context().trace_id
    attributes = dict(record.attributes or {})
    assert attributes["email"] == "[REDACTED]"
    assert attributes["name_"] == "clash"
    assert attributes["count"] == 3
    assert "trace_id" not in attributes
    assert "logger" not in attributes

"""Exception text (messages, tracebacks, span status) goes through the one redaction list too.

The message texts below are the ones the drivers really produce (captured from SQLAlchemy 2.0.58
with asyncpg 0.32 and PostgreSQL, aiosqlite, pydantic 2); the end-to-end test against both
databases is tests/telemetry/test_error_path_redaction.py.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3

import pytest
import structlog
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import StatementError

from loan_desk_telemetry import REDACTED, configure_logging, setup_telemetry
from loan_desk_telemetry._redaction import exception_text, redact_text

NAME = "Zebulon"
EMAIL = "zebulon.quux@example.org"
TOKEN = "lda_Q2FtZWxDYXNlVG9rZW5WYWx1ZUZvclRlc3Rpbmc"

PG_UNIQUE = (
    "(sqlalchemy.dialects.postgresql.asyncpg.IntegrityError) <class "
    "'asyncpg.exceptions.UniqueViolationError'>: duplicate key value violates unique constraint "
    f'"uq_applications_email"\nDETAIL:  Key (email)=({EMAIL}) already exists.\n'
    "[SQL: INSERT INTO applications (id, first_name, email) VALUES ($1::UUID, $2, $3)]\n"
    f"[parameters: ('0b7c', '{NAME}', '{EMAIL}')]\n"
    "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
)
PG_DATA_ERROR = (
    "<class 'asyncpg.exceptions.DataError'>: invalid input for query argument $2: "
    f"'{NAME}' ('str' object cannot be interpreted as an integer)"
)
PG_NOT_NULL = (
    "<class 'asyncpg.exceptions.NotNullViolationError'>: null value in column \"email\" of "
    f'relation "applications" violates not-null constraint\nDETAIL:  Failing row contains '
    f"(0b7c, {NAME}, null)."
)
PG_SYNTAX = f'invalid input syntax for type integer: "{NAME}"'


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        (PG_UNIQUE, ['unique constraint "uq_applications_email"', "Key (email)=", "[SQL: INSERT"]),
        (PG_DATA_ERROR, ["invalid input for query argument $2"]),
        (PG_NOT_NULL, ['null value in column "email"', "DETAIL:"]),
        (PG_SYNTAX, ["invalid input syntax for type integer"]),
        (f"1 validation error\n  input_value='{NAME}', input_type=str", ["input_type=str"]),
        (f"bad call: {{'email': '{EMAIL}', 'product': 'mortgage'}}", ["'product': 'mortgage'"]),
        (f'kwargs: first_name="{NAME}" kind="id"', ['kind="id"']),
        (f"header Authorization: Bearer {TOKEN} refused", ["Authorization"]),
        (f"cannot connect to postgresql://loan:{TOKEN}@db:5432/loan", ["@db:5432/loan"]),
        (f"GET http://tagger/x?token={TOKEN}&page=2 failed", ["page=2"]),
        (f"host=db password={TOKEN} sslmode=require", ["host=db", "sslmode=require"]),
        (f"mail to {EMAIL} bounced", ["mail to", "bounced"]),
    ],
)
def test_redact_text_removes_values_and_keeps_the_diagnosis(message: str, kept: list[str]) -> None:
    redacted = redact_text(message)
    for planted in (NAME, EMAIL, TOKEN):
        assert planted not in redacted, redacted
    assert REDACTED in redacted
    for part in kept:
        assert part in redacted, (part, redacted)


def test_redact_text_leaves_ordinary_text_alone() -> None:
    message = (
        "UNIQUE constraint failed: applications.email\n[SQL: INSERT INTO applications (id) VALUES "
        "(?)]\n[SQL parameters hidden due to hide_parameters=True]\n"
        "    await repository.insert_application(connection, email=email, first_name=first_name)"
        "\n    application_id, token = await service.create_application("
    )
    assert redact_text(message) == message


def test_exception_text_redacts_every_exception_of_the_chain() -> None:
    try:
        try:
            raise ValueError(f"inner {EMAIL}")
        except ValueError as inner:
            raise RuntimeError(f"outer 'token': '{TOKEN}'") from inner
    except RuntimeError as exc:
        rendered = exception_text(exc)
    assert "Traceback (most recent call last)" in rendered
    assert "The above exception was the direct cause" in rendered
    assert "ValueError: inner [REDACTED]" in rendered
    assert "RuntimeError: outer 'token': '[REDACTED]'" in rendered
    assert EMAIL not in rendered
    assert TOKEN not in rendered


def _failing_statement(*, hide_parameters: bool) -> StatementError:
    engine = create_engine("sqlite://", hide_parameters=hide_parameters)
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (email TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO t VALUES (:e)"), {"e": EMAIL})
        try:
            connection.execute(text("INSERT INTO t VALUES (:e)"), {"e": EMAIL})
        except StatementError as exc:
            return exc
    raise AssertionError("the statement did not fail")


def test_sqlalchemy_parameters_are_redacted_even_without_hide_parameters() -> None:
    exc = _failing_statement(hide_parameters=False)
    assert EMAIL in str(exc)  # what SQLAlchemy renders unless the engine hides them
    rendered = exception_text(exc)
    assert EMAIL not in rendered
    assert "[parameters: [REDACTED]]" in rendered
    assert "UNIQUE constraint failed: t.email" in rendered
    assert isinstance(exc.orig, sqlite3.IntegrityError)


def _log_pipeline() -> tuple[io.StringIO, InMemoryLogRecordExporter]:
    stream = io.StringIO()
    configure_logging(service_name="svc", fmt="json", stream=stream)
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    telemetry = setup_telemetry(
        service_name="svc",
        service_version="1",
        tracer_provider=TracerProvider(),
        logger_provider=LoggerProvider(),
        log_exporter=exporter,
        span_exporter=InMemorySpanExporter(),
    )
    telemetry.force_flush()
    return stream, exporter


@pytest.mark.parametrize("source", ["structlog", "stdlib"])
def test_logged_exceptions_are_redacted_on_stdout_and_in_otlp_records(source: str) -> None:
    stream, exporter = _log_pipeline()
    exc = _failing_statement(hide_parameters=False)
    if source == "structlog":
        structlog.get_logger("app").error("request.failed", exc_info=exc)
    else:
        try:
            raise exc
        except StatementError:
            logging.getLogger("app").exception("request failed")
    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert "UNIQUE constraint failed" in line["exception"]
    assert "[parameters: [REDACTED]]" in line["exception"]
    (record,) = [r.log_record for r in _flushed(exporter)]
    attributes = dict(record.attributes or {})
    assert attributes["exception.type"] == "IntegrityError"
    assert "UNIQUE constraint failed" in str(attributes["exception.message"])
    assert "UNIQUE constraint failed" in str(attributes["exception.stacktrace"])
    everything = stream.getvalue() + repr(record.body) + repr(attributes)
    assert EMAIL not in everything


def _flushed(exporter: InMemoryLogRecordExporter) -> list[object]:
    for handler in logging.getLogger().handlers:
        provider = getattr(handler, "_logger_provider", None)
        if provider is not None:
            provider.force_flush()
    return list(exporter.get_finished_logs())


def test_console_output_has_no_locals_and_no_values() -> None:
    stream = io.StringIO()
    configure_logging(service_name="svc", fmt="console", stream=stream)
    secret_local = f"local {EMAIL}"  # noqa: F841 - a local a rich traceback would show
    try:
        raise ValueError(f"failed for {EMAIL}")
    except ValueError:
        structlog.get_logger("app").exception("boom")
    output = stream.getvalue()
    assert "ValueError: failed for [REDACTED]" in output
    assert EMAIL not in output


def test_span_exception_events_and_status_are_redacted_on_export() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    telemetry = setup_telemetry(
        service_name="svc",
        service_version="1",
        tracer_provider=provider,
        logger_provider=LoggerProvider(),
        span_exporter=exporter,
        log_exporter=InMemoryLogRecordExporter(),  # type: ignore[no-untyped-call]
    )
    tracer = provider.get_tracer("t")
    exc = _failing_statement(hide_parameters=False)
    with pytest.raises(StatementError), tracer.start_as_current_span("applications.create"):
        raise exc
    with tracer.start_as_current_span("by-hand") as span:
        span.record_exception(ValueError(f"tagger said {EMAIL}"))
        span.set_status(Status(StatusCode.ERROR, f"tagging failed for {EMAIL}"))
    telemetry.force_flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    created = spans["applications.create"]
    assert created.status.status_code is StatusCode.ERROR
    assert "UNIQUE constraint failed" in str(created.status.description)
    (event,) = created.events
    assert "[parameters: [REDACTED]]" in str(event.attributes["exception.message"])
    assert "[parameters: [REDACTED]]" in str(event.attributes["exception.stacktrace"])
    assert spans["by-hand"].status.description == "tagging failed for [REDACTED]"
    everything = repr(
        [
            (s.status.description, [dict(e.attributes or {}) for e in s.events])
            for s in spans.values()
        ]
    )
    assert EMAIL not in everything
    telemetry.shutdown()


def test_a_real_pydantic_validation_error_loses_its_input() -> None:
    class Model(BaseModel):
        count: int
        contact: dict[str, int]

    with pytest.raises(ValidationError) as caught:
        Model.model_validate({"count": NAME, "contact": {"email": EMAIL}})
    assert NAME in str(caught.value)  # pydantic echoes the input
    rendered = exception_text(caught.value)
    assert NAME not in rendered
    assert EMAIL not in rendered
    assert "type=int_parsing" in rendered

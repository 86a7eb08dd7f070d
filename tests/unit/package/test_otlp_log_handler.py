"""Contract of the OTLP log handler: a stdlib or structlog record becomes one OpenTelemetry
LogRecord with the trace context, redacted attributes and the exception, flush and shutdown
behave, and nothing the telemetry pipeline does wrong reaches the code that logged."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import structlog
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace import TracerProvider

from loan_desk_telemetry import REDACTED, configure_logging
from loan_desk_telemetry._log_processors import AddService
from loan_desk_telemetry._otlp_log_handler import OtlpLogHandler, install_otlp_handler

EMAIL = "ana.rossi@example.org"
LOGGER = "contract.app"


@pytest.fixture
def exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]


@pytest.fixture
def provider(exporter: InMemoryLogRecordExporter) -> Iterator[LoggerProvider]:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def app_logger(provider: LoggerProvider) -> Iterator[logging.Logger]:
    """A logger of its own with only the handler on it (pytest's capture stays out)."""
    handler = OtlpLogHandler(logger_provider=provider)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def _record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, (), None)


def _records(exporter: InMemoryLogRecordExporter) -> list[Any]:
    return [data.log_record for data in exporter.get_finished_logs()]


def test_a_stdlib_record_with_its_trace_context(
    app_logger: logging.Logger, exporter: InMemoryLogRecordExporter
) -> None:
    tracer = TracerProvider().get_tracer("contract")
    with tracer.start_as_current_span("request") as span:
        app_logger.warning(
            "applicant %s updated", "a-1", extra={"password": "hunter2", "attempt": 2}
        )
    (record,) = _records(exporter)
    assert record.body == "applicant a-1 updated"
    assert record.severity_text == "WARN"
    assert record.severity_number.name == "WARN"
    assert record.trace_id == span.get_span_context().trace_id
    assert record.span_id == span.get_span_context().span_id
    attributes = dict(record.attributes or {})
    assert attributes["password"] == REDACTED
    assert attributes["attempt"] == 2
    # Fields of their own on the OTLP record are not repeated as attributes.
    for key in ("event", "level", "logger", "timestamp", "trace_id", "span_id", "exc_info"):
        assert key not in attributes


def test_no_trace_context_outside_a_span(
    app_logger: logging.Logger, exporter: InMemoryLogRecordExporter
) -> None:
    app_logger.info("idle")
    (record,) = _records(exporter)
    assert (record.trace_id, record.span_id) in {(0, 0), (None, None)}


def test_a_structlog_record_keeps_its_processed_event_dict(
    provider: LoggerProvider, exporter: InMemoryLogRecordExporter
) -> None:
    configure_logging(service_name="svc", fmt="json", stream=io.StringIO())
    install_otlp_handler(OtlpLogHandler(logger_provider=provider))
    structlog.get_logger("app").info(
        "applicant.updated", token="t0k", email=EMAIL, tags=["a", "b"], nested={"n": 1}
    )
    (record,) = _records(exporter)
    attributes = dict(record.attributes or {})
    assert record.body == "applicant.updated"
    assert (attributes["token"], attributes["email"]) == (REDACTED, REDACTED)
    assert attributes["tags"] == ("a", "b")
    assert attributes["nested"] == "{'n': 1}"
    assert "service" not in attributes  # the resource carries it


def test_the_exception_leaves_redacted(
    app_logger: logging.Logger, exporter: InMemoryLogRecordExporter
) -> None:
    try:
        raise LookupError(f"no applicant with e-mail {EMAIL}")
    except LookupError:
        app_logger.exception("lookup failed")
    (record,) = _records(exporter)
    attributes = dict(record.attributes or {})
    assert attributes["exception.type"] == "LookupError"
    assert attributes["exception.message"] == "no applicant with e-mail [REDACTED]"
    stacktrace = str(attributes["exception.stacktrace"])
    assert stacktrace.startswith("Traceback (most recent call last):")
    assert "LookupError: no applicant with e-mail [REDACTED]" in stacktrace
    assert EMAIL not in repr(record.body) + repr(attributes)


def test_records_of_opentelemetry_itself_are_not_shipped(
    provider: LoggerProvider, exporter: InMemoryLogRecordExporter
) -> None:
    handler = OtlpLogHandler(logger_provider=provider)
    sdk = _record("opentelemetry.sdk._logs", "Exception while exporting logs.")
    app = _record(LOGGER, "kept")
    handler.handle(sdk)
    handler.handle(app)
    assert [record.body for record in _records(exporter)] == ["kept"]


def test_foreign_records_go_through_the_configured_chain(
    provider: LoggerProvider, exporter: InMemoryLogRecordExporter
) -> None:
    def mark(_logger: Any, _method: str, event_dict: Any) -> Any:
        event_dict["chain"] = "custom"
        return event_dict

    handler = OtlpLogHandler(logger_provider=provider, foreign_pre_chain=[mark])
    handler.handle(_record(LOGGER, "hello"))
    (record,) = _records(exporter)
    assert dict(record.attributes or {})["chain"] == "custom"
    default = OtlpLogHandler(logger_provider=provider)
    (add_service,) = [p for p in default.foreign_pre_chain if isinstance(p, AddService)]
    assert add_service.service_name == ""


def test_flush_exports_what_the_batch_processor_holds() -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    # A schedule far in the future: only a flush sends the record.
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, schedule_delay_millis=60_000)
    )
    handler = OtlpLogHandler(logger_provider=provider)
    handler.handle(_record(LOGGER, "queued"))
    assert _records(exporter) == []
    handler.flush()  # the contrib handler flushes in a thread of its own
    deadline = time.monotonic() + 10
    while not _records(exporter) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [record.body for record in _records(exporter)] == ["queued"]
    provider.shutdown()


def test_after_shutdown_logging_goes_on_and_exports_nothing(
    app_logger: logging.Logger, provider: LoggerProvider, exporter: InMemoryLogRecordExporter
) -> None:
    app_logger.info("before")
    provider.shutdown()
    app_logger.info("after")  # does not raise
    assert [record.body for record in _records(exporter)] == ["before"]


class _FailingExporter(LogRecordExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.calls += 1
        raise ConnectionError("collector unreachable")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_an_exporter_that_fails_does_not_reach_the_app() -> None:
    failing = _FailingExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(failing))
    handler = OtlpLogHandler(logger_provider=provider)
    handler.handle(_record(LOGGER, "still served"))
    assert failing.calls == 1
    provider.shutdown()


class _BrokenProcessor(LogRecordProcessor):
    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        raise RuntimeError("broken processor")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_a_pipeline_that_raises_does_not_reach_the_app(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = LoggerProvider()
    provider.add_log_record_processor(_BrokenProcessor())
    handler = OtlpLogHandler(logger_provider=provider)
    logger = logging.getLogger("contract.broken")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("the request still gets its answer")  # does not raise
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    # The stdlib reports a failing handler on stderr (logging.Handler.handleError).
    assert "RuntimeError: broken processor" in capsys.readouterr().err

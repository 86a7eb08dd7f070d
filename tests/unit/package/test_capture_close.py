"""A capture owns the SDK providers it built: closing it ends their batch processors' threads.

The worker threads are named by the SDK's BatchProcessor (opentelemetry-sdk 1.45.2,
sdk/_shared_internal/__init__.py: ``f"OtelBatch{exporting}RecordProcessor"``, ``exporting``
being "Span" in sdk/trace/export/__init__.py and "Log" in sdk/_logs/_internal/export/__init__.py).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from loan_desk_telemetry._otlp_log_handler import OtlpLogHandler
from loan_desk_telemetry.testing import capture_telemetry, reset_global_state

WORKERS = ("OtelBatchSpanRecordProcessor", "OtelBatchLogRecordProcessor")


def _workers() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name in WORKERS}


def _started_since(before: set[threading.Thread]) -> set[threading.Thread]:
    """The worker threads started since ``before``: one of each kind for a new capture.

    Threads, not counts by name: a capture an earlier test left unclosed may be collected (and
    its workers end) at any moment, this test's ``gc.collect()`` included."""
    started = _workers() - before
    assert sorted(thread.name for thread in started) == sorted(WORKERS), started
    return started


def _alive(threads: set[threading.Thread]) -> list[threading.Thread]:
    return [thread for thread in threads if thread.is_alive()]


def _otlp_handlers() -> int:
    return sum(isinstance(h, OtlpLogHandler) for h in logging.getLogger().handlers)


def test_close_ends_both_worker_threads() -> None:
    before = _workers()
    capture = capture_telemetry()
    mine = _started_since(before)
    assert not capture.closed
    capture.close()
    assert capture.closed
    assert _alive(mine) == []


def test_leaving_the_with_block_ends_them() -> None:
    before = _workers()
    with capture_telemetry() as capture:
        mine = _started_since(before)
        assert not capture.closed
    assert capture.closed
    assert _alive(mine) == []


def test_the_with_block_closes_on_an_exception_too() -> None:
    before = _workers()
    try:
        with capture_telemetry() as capture:
            mine = _started_since(before)
            raise LookupError("in the test body")
    except LookupError:
        pass
    assert capture.closed
    assert _alive(mine) == []


def test_a_capture_dropped_without_close_ends_them_when_collected() -> None:
    before = _workers()
    capture = capture_telemetry()
    mine = _started_since(before)
    del capture
    gc.collect()
    assert _alive(mine) == []


def test_reset_global_state_leaves_a_capture_open() -> None:
    """A capture may serve several tests (a session-wide one): resetting between tests must not
    stop it."""
    before = _workers()
    with capture_telemetry() as capture:
        mine = _started_since(before)
        reset_global_state()
        assert not capture.closed
        assert len(_alive(mine)) == len(WORKERS)  # still running
        with trace.get_tracer("t", tracer_provider=capture.tracer_provider).start_as_current_span(
            "after-reset"
        ):
            pass
        assert [s.name for s in capture.spans()] == ["after-reset"]
    assert _alive(mine) == []


def test_close_twice_is_harmless() -> None:
    before = _workers()
    capture = capture_telemetry()
    mine = _started_since(before)
    capture.close()
    capture.close()
    with capture:
        pass
    assert capture.closed
    assert _alive(mine) == []


def test_close_takes_the_otlp_handler_off_the_root_logger() -> None:
    capture = capture_telemetry()
    assert _otlp_handlers() == 1
    capture.close()
    assert _otlp_handlers() == 0


def test_what_was_captured_stays_readable_after_close_and_later_telemetry_is_dropped() -> None:
    with capture_telemetry() as capture:
        tracer = trace.get_tracer("t", tracer_provider=capture.tracer_provider)
        with tracer.start_as_current_span("before"):
            logging.getLogger("t").warning("before close")
    # Nothing was flushed inside the block: close() exported what was queued.
    assert [s.name for s in capture.spans()] == ["before"]
    assert [r.log_record.body for r in capture.log_records()] == ["before close"]

    with tracer.start_as_current_span("after"):
        logging.getLogger("t").warning("after close")
    assert [s.name for s in capture.spans()] == ["before"]
    assert [r.log_record.body for r in capture.log_records()] == ["before close"]
    capture.clear()
    assert capture.spans() == []
    assert capture.log_records() == []


def test_a_close_on_a_batch_worker_thread_hands_off_and_still_ends_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cyclic collector may run a capture's finalizer on any thread, a batch worker's too:
    # there it must not join itself (RuntimeError: cannot join current thread). Here the span
    # worker itself closes the capture, from the exporter it calls.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # ms: the worker exports at once
    before = _workers()
    capture = capture_telemetry()
    mine = _started_since(before)
    exporter = capture.span_exporter
    export = exporter.export
    closed_on: list[str] = []

    def export_then_close(spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = export(spans)
        closed_on.append(threading.current_thread().name)
        capture.close()
        return result

    exporter.export = export_then_close  # type: ignore[method-assign]
    capture.tracer_provider.get_tracer("t").start_span("last").end()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (not capture.closed or _alive(mine)):
        time.sleep(0.05)
    assert closed_on == [WORKERS[0]]
    assert capture.closed
    assert _alive(mine) == []
    assert [span.name for span in exporter.get_finished_spans()] == ["last"]

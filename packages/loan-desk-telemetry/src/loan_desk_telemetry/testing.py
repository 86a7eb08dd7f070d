"""Test helpers: the whole pipeline with in-memory exporters and a fresh registry, no globals.

::

    @pytest.fixture(autouse=True)
    def _clean():
        reset_global_state()
        yield
        reset_global_state()

    def test_something():
        with capture_telemetry(service_name="svc") as capture:
            ...  # instrument_app(app, ..., registry=capture.registry,
                 #                tracer_provider=capture.tracer_provider)
            spans = capture.spans()        # flushes first
            records = capture.log_records()

A capture owns the SDK providers it built and their batch processors' worker threads: leaving
the ``with`` block, :meth:`Capture.close`, the capture being garbage-collected or the
interpreter exiting shuts them down, whichever comes first.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

import structlog
from opentelemetry import _logs, trace
from prometheus_client import CollectorRegistry

from loan_desk_telemetry._log_config import reset_logging
from loan_desk_telemetry._telemetry import Telemetry, setup_telemetry

if TYPE_CHECKING:
    from types import TracebackType

    from opentelemetry.sdk._logs import LoggerProvider as SdkLoggerProvider
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Capture", "capture_telemetry", "reset_global_state"]


@dataclass
class Capture:
    """What :func:`capture_telemetry` built: the handle, its in-memory exporters and a fresh
    registry. Close it (or use it as a context manager) to stop its providers' worker threads;
    what was captured stays readable afterwards."""

    telemetry: Telemetry
    span_exporter: InMemorySpanExporter
    log_exporter: InMemoryLogRecordExporter
    registry: CollectorRegistry
    _finalizer: (
        weakref.finalize[[Telemetry, SdkTracerProvider, SdkLoggerProvider], Capture] | None
    ) = field(default=None, init=False, repr=False, compare=False)

    @property
    def tracer_provider(self) -> trace.TracerProvider:
        return self.telemetry.tracer_provider

    @property
    def logger_provider(self) -> _logs.LoggerProvider:
        return self.telemetry.logger_provider

    def spans(self) -> list[ReadableSpan]:
        self.telemetry.force_flush()
        return list(self.span_exporter.get_finished_spans())

    def log_records(self) -> list[ReadableLogRecord]:
        self.telemetry.force_flush()
        return list(self.log_exporter.get_finished_logs())

    def clear(self) -> None:
        self.telemetry.force_flush()
        self.span_exporter.clear()
        self.log_exporter.clear()

    @property
    def closed(self) -> bool:
        return self._finalizer is None or not self._finalizer.alive

    def close(self) -> None:
        """Export what is queued, take the OTLP log handler off the root logger and shut down
        the providers this capture built (their batch processors' worker threads end).
        Idempotent. Afterwards :meth:`spans` and :meth:`log_records` still return what was
        captured before; spans and log records emitted later are dropped."""
        if self._finalizer is not None:
            self._finalizer()  # a weakref.finalize runs its callback at most once

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _close(
    telemetry: Telemetry, tracer_provider: SdkTracerProvider, logger_provider: SdkLoggerProvider
) -> None:
    # Telemetry.shutdown only flushes providers handed in; the SDK's shutdown stops them. In
    # opentelemetry-sdk 1.45.2, TracerProvider.shutdown (sdk/trace/__init__.py) and
    # LoggerProvider.shutdown (sdk/_logs/_internal/__init__.py) shut down each processor; the
    # batch processors' shutdown (BatchProcessor.shutdown, sdk/_shared_internal/__init__.py)
    # wakes their worker thread ("OtelBatchSpanRecordProcessor" / "OtelBatchLogRecordProcessor"),
    # which exports what is queued and ends, and joins it. Both are no-ops the second time.
    if threading.current_thread().name.startswith("OtelBatch"):
        # The cyclic collector ran the finalizer inside a batch worker, which cannot join itself:
        # shut down from a thread of its own.
        threading.Thread(
            target=_close, args=(telemetry, tracer_provider, logger_provider), daemon=True
        ).start()
        return
    telemetry.shutdown()
    tracer_provider.shutdown()
    logger_provider.shutdown()


def capture_telemetry(*, service_name: str = "test-service", version: str = "0.0.0") -> Capture:
    """``setup_telemetry`` with explicit SDK providers and in-memory exporters.

    The capture owns the providers: :meth:`Capture.close` (or leaving ``with``) shuts them down;
    so does the capture being garbage-collected, or the interpreter exiting. Keep the capture
    while you use its providers."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from loan_desk_telemetry._resource import build_resource

    resource = build_resource(service_name=service_name, service_version=version)
    span_exporter = InMemorySpanExporter()
    log_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    # No SDK exit hooks: the capture's finalizer shuts the providers down at exit instead (and
    # the hooks would keep every provider alive until then).
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    telemetry = setup_telemetry(
        service_name=service_name,
        service_version=version,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        span_exporter=span_exporter,
        log_exporter=log_exporter,
    )
    capture = Capture(telemetry, span_exporter, log_exporter, CollectorRegistry())
    # The finalizer holds the providers, not the capture: it runs on close(), when the capture
    # is collected, or at interpreter exit, once.
    capture._finalizer = weakref.finalize(
        capture, _close, telemetry, tracer_provider, logger_provider
    )
    return capture


def reset_global_state() -> None:
    """Root handlers this package added, structlog configuration and context vars.

    Captures are left open: one may serve several tests on purpose (a session-wide capture);
    each closes with :meth:`Capture.close`, its ``with`` block, or when it is collected."""
    reset_logging()
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()

"""stdlib logging filters of the pipeline: export failures, their rate limit, re-logged errors.

Filters sit on handlers and loggers, not in the processor chain: they decide whether a record is
written at all (or at which level) before any processor runs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Final

# ACCESS_LOGGER: the access line reports an error inside its span on purpose (kept); already_logged:
# the mark the metrics middleware puts on an exception it logged.
from loan_desk_telemetry._metrics import ACCESS_LOGGER, already_logged

__all__ = [
    "EXPORT_FAILURE_LOGGERS",
    "EXPORT_FAILURE_MESSAGES",
    "OTEL_NAMESPACE",
    "DropRelogged",
    "ExportErrorRateLimit",
    "ExportFailureAsWarning",
]

#: Loggers of the OpenTelemetry SDK, API and exporters all start with this.
OTEL_NAMESPACE: Final = "opentelemetry"


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
        if not record.name.startswith(OTEL_NAMESPACE):
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
        return not (
            record.exc_info and record.name != ACCESS_LOGGER and already_logged(record.exc_info[1])
        )

"""A small OTLP receiver for tests: the collector's front door, gRPC and HTTP, loopback only.

Built on the ``opentelemetry-proto`` messages. It accepts traces and logs over

- gRPC: ``TraceService/Export`` and ``LogsService/Export`` on ``grpc_port``;
- HTTP: ``POST /v1/traces`` and ``POST /v1/logs`` with ``application/x-protobuf`` bodies on
  ``http_port`` (what the Python HTTP exporter sends after appending the signal path).

It keeps every ``ResourceSpans``/``ResourceLogs`` it got, can be stopped and started again on the
same ports (a collector outage and its return), and flattens what it holds into plain records
(`spans()`, `logs()`) for the checkers in tests/support/expectations.py. It notes when each
export arrived (`arrived_at`), for the arrival-time figures.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from tests.support.expectations import LogRecord, SpanRecord

LOOPBACK = "127.0.0.1"

_SPAN_KINDS = {
    Span.SPAN_KIND_UNSPECIFIED: "UNSPECIFIED",
    Span.SPAN_KIND_INTERNAL: "INTERNAL",
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def span_records(batches: Iterable[ResourceSpans]) -> list[SpanRecord]:
    """Flatten OTLP ``ResourceSpans`` (from the wire, or from Tempo) into span records."""
    out = []
    for rs in batches:
        resource = attributes(rs.resource.attributes)
        for scope_spans in rs.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    SpanRecord(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=_SPAN_KINDS.get(span.kind, str(span.kind)),
                        service=str(resource.get("service.name", "")),
                        attributes=attributes(span.attributes),
                        resource=resource,
                        status_code=int(span.status.code),
                        events=tuple(
                            (event.name, attributes(event.attributes)) for event in span.events
                        ),
                    )
                )
    return out


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items if isinstance(kv, KeyValue)}


class OtlpReceiver:
    """Collects OTLP traces and logs sent over gRPC or HTTP/protobuf to loopback ports."""

    def __init__(self, grpc_port: int = 0, http_port: int = 0) -> None:
        self._lock = threading.Lock()
        self.resource_spans: list[ResourceSpans] = []
        self.resource_logs: list[ResourceLogs] = []
        self.requests = {"grpc": 0, "http": 0}
        # (time.monotonic() on arrival, "traces" or "logs", the trace ids the export carried)
        self.arrivals: list[tuple[float, str, frozenset[str]]] = []
        self.grpc_port = grpc_port
        self.http_port = http_port
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._grpc is not None

    def start(self) -> OtlpReceiver:
        """Start both servers; after a stop they come back on the same ports."""
        if self.running:
            return self
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceServicer(self), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsServicer(self), server)
        bound = server.add_insecure_port(f"{LOOPBACK}:{self.grpc_port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC port {self.grpc_port}")
        self.grpc_port = bound
        server.start()
        self._grpc = server

        handler = type("Handler", (_HttpHandler,), {"receiver": self})
        ThreadingHTTPServer.allow_reuse_address = True
        http = ThreadingHTTPServer((LOOPBACK, self.http_port), handler)
        http.daemon_threads = True
        self.http_port = int(http.server_address[1])
        self._http = http
        self._http_thread = threading.Thread(target=http.serve_forever, daemon=True)
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait(5)
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(5)
            self._http_thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def grpc_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    # --- storage -----------------------------------------------------------------------------

    def add_traces(self, request: trace_service_pb2.ExportTraceServiceRequest, via: str) -> None:
        now = time.monotonic()
        ids = frozenset(
            span.trace_id.hex()
            for rs in request.resource_spans
            for scope_spans in rs.scope_spans
            for span in scope_spans.spans
        )
        with self._lock:
            self.resource_spans.extend(request.resource_spans)
            self.requests[via] += 1
            self.arrivals.append((now, "traces", ids))

    def add_logs(self, request: logs_service_pb2.ExportLogsServiceRequest, via: str) -> None:
        now = time.monotonic()
        ids = frozenset(
            record.trace_id.hex()
            for rl in request.resource_logs
            for scope_logs in rl.scope_logs
            for record in scope_logs.log_records
            if record.trace_id
        )
        with self._lock:
            self.resource_logs.extend(request.resource_logs)
            self.requests[via] += 1
            self.arrivals.append((now, "logs", ids))

    def arrived_at(self, signal: str) -> dict[str, float]:
        """Trace id -> when the last export of ``signal`` (``traces`` or ``logs``) carrying it
        arrived, on ``time.monotonic()``: when all of that trace's spans (or log records) were
        here."""
        if signal not in ("traces", "logs"):
            raise ValueError(f"signal {signal!r}: traces or logs")
        with self._lock:
            arrivals = list(self.arrivals)
        last: dict[str, float] = {}
        for when, kind, ids in arrivals:
            if kind == signal:
                for trace_id in ids:
                    last[trace_id] = max(when, last.get(trace_id, when))
        return last

    def spans(self) -> list[SpanRecord]:
        with self._lock:
            batches = list(self.resource_spans)
        return span_records(batches)

    def logs(self) -> list[LogRecord]:
        with self._lock:
            batches = list(self.resource_logs)
        out = []
        for rl in batches:
            resource = attributes(rl.resource.attributes)
            for scope_logs in rl.scope_logs:
                for record in scope_logs.log_records:
                    out.append(
                        LogRecord(
                            trace_id=record.trace_id.hex(),
                            span_id=record.span_id.hex(),
                            severity_text=record.severity_text,
                            body=str(any_value(record.body) or ""),
                            service=str(resource.get("service.name", "")),
                            attributes=attributes(record.attributes),
                            resource=resource,
                        )
                    )
        return out


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        self.receiver.add_traces(request, "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()


class _LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        self.receiver.add_logs(request, "grpc")
        return logs_service_pb2.ExportLogsServiceResponse()


_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda body: body,
    "identity": lambda body: body,
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
}


class _HttpHandler(BaseHTTPRequestHandler):
    receiver: OtlpReceiver
    # One request per connection: a kept-alive connection would outlive `stop()` (its handler
    # thread keeps serving), and a stopped receiver must refuse everything.
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        if self.receiver._http is None:  # stopping: answer nothing
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        decode = _DECODERS.get(self.headers.get("Content-Encoding", "").lower())
        if decode is None:
            self._reply(415, b"")
            return
        body = decode(body)
        if self.path == "/v1/traces":
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            self.receiver.add_traces(request, "http")
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/logs":
            request_logs = logs_service_pb2.ExportLogsServiceRequest.FromString(body)
            self.receiver.add_logs(request_logs, "http")
            reply = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
        else:
            self._reply(404, b"")
            return
        self._reply(200, reply)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

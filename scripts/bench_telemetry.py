"""Overhead of the observability package on the real loan-api, measured over HTTP on loopback.

    uv run python scripts/bench_telemetry.py [--seconds 4] [--concurrency 16] [--rounds 3]

One run migrates a SQLite file database (``loan_api.migrate.upgrade``), seeds it with
applications through the api itself, then serves the shipped app (``loan_api.main:create_app``
through ``servicekit.serve.serve_app``: uvicorn, one worker, ``log_config=None``, JSON log lines
to stdout, which goes to /dev/null) in a subprocess, in these variants:

- ``bare``: the same app without the observability package's per-request parts:
  ``OTEL_SDK_DISABLED=true`` (no tracer/logger provider, no OTLP handler, no SQLAlchemy or httpx
  instrumentation, no server span) and the package's ``PrometheusMiddleware`` (metrics and the
  access line) and ``/metrics`` route taken out of the app before it starts. What stays is what
  the app owns: its routes, problem handlers, body-size limit, business metrics, and the
  structlog pipeline (the read endpoints log nothing themselves).
- ``instrumented``: ``create_app()`` as shipped, everything on: one server span per request,
  query spans, the access line as JSON on stdout and as an OTLP log record, metrics with
  exemplars; spans and log records exported over OTLP/HTTP to a sink in this process that answers
  200 (``OTEL_EXPORTER_OTLP_ENDPOINT``). Extra ``OTEL_*`` variables given to this script reach the
  server (e.g. ``OTEL_TRACES_SAMPLER``), and ``--variant-env`` adds more ``instrumented`` rows.
- ``metrics-logs``: ours with tracing off, as docs/observability.md tells a service to set it
  (``METRICS_LOGS_ENV``): metrics, the access line and its OTLP copy, no span.
- ``zero-code``: the bare app run under ``opentelemetry-instrument`` (opentelemetry-distro and
  the same contrib instrumentations), its defaults, OTLP/HTTP to the same sink, uvicorn's access
  line through its logging handler;
- ``blueswen``: the bare app with blueswen/fastapi-observability's set-up rebuilt (see
  ``add_blueswen_setup``);
- ``sdk-floor``: ``instrumented`` with the contrib span makers swapped for the cheapest spans the
  SDK can make (scripts/bench_floor.py), the floor of the OpenTelemetry SDK itself;
- ``instrumentator``: bare + prometheus-fastapi-instrumentator (a peer's metrics baseline);
- ``basehttp``: bare + the same metrics as ours from a ``BaseHTTPMiddleware`` (the talk's shape).

Endpoints, both on the route ``GET /api/v1/applications/{application_id}``:

- ``read``: with the application's Bearer token: the real auth path (token hash lookup) and the
  read (application, address/details steps, document counts, invite): five SELECTs;
- ``no-token``: the same route without a token: FastAPI matches the route, resolves its
  dependencies (a pooled connection is checked out and returned, no query) and the problem
  handler answers 401. The cheapest request that still goes through a real, matched, traced
  and counted route (``/health/*`` and ``/metrics`` are excluded from telemetry; an unknown path
  would only measure the "unmatched" branch).

A minimal keep-alive HTTP/1.1 client drives each endpoint with bounded concurrency for a fixed
time after a warm-up (httpx costs more CPU per request than the server under test on a small
machine, and would then be what is measured; ``--client httpx`` is there to check). Variants are
interleaved and repeated (``--rounds``); the median round is kept. Prints req/s (and its range
over the rounds), p50/p99 latency, the server process's CPU time per request, the ratios against
``bare``, and the targets as round-by-round ratios (ours against each alternative, metrics-logs
against bare). Before the rounds, a census counts what one request of each endpoint exports
(spans, log records, OTLP bytes, decoded from what the sink received; ``--no-census`` skips it).
Loopback only, bounded time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BASE_VARIANTS = (
    "bare",
    "instrumented",
    "metrics-logs",
    "zero-code",
    "blueswen",
    "sdk-floor",
    "instrumentator",
    "basehttp",
)
# The full set-ups a team would pick instead of ours, compared with ``instrumented``.
ALTERNATIVES = ("zero-code", "blueswen")
# Ours with tracing off, as docs/observability.md ("Metrics and logs only") tells a service to set
# it: no tracing instrumentation installed (the contrib's own variable, read by the package),
# nothing to export, the app's own spans not even recorded. Metrics, the access line and its OTLP
# copy stay.
METRICS_LOGS_ENV = {
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fastapi,sqlalchemy,httpx",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_TRACES_SAMPLER": "always_off",
}
ENDPOINTS = ("read", "no-token")
ROUTE = "/api/v1/applications/{application_id}"
ROOT = Path(__file__).resolve().parents[1]
APPLICATIONS = 200
TARGET = 0.85
METRICS_LOGS_TARGET = 0.95
CENSUS_REQUESTS = 10


# --------------------------------------------------------------------------- the service


def bench_app() -> Any:
    """uvicorn factory (``bench_telemetry:bench_app``): the shipped app, adjusted per variant."""
    variant = os.environ["BENCH_VARIANT"]
    if variant == "sdk-floor":
        from bench_floor import floor_app  # this directory is on sys.path in the server

        return floor_app()
    if variant in ALTERNATIVES:
        return alternative_app(variant)
    from loan_api.main import create_app

    app = create_app()
    if variant.startswith("instrumented") or variant == "metrics-logs":
        return app
    return bare(app, variant)


def bare(app: Any, variant: str = "bare") -> Any:
    """The package's middleware and /metrics route out of ``app``, before the stack is built;
    for the metrics-only peers, their metrics in."""
    from prometheus_client import CollectorRegistry

    from loan_desk_telemetry import PrometheusMiddleware

    app.user_middleware = [m for m in app.user_middleware if m.cls is not PrometheusMiddleware]
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != "/metrics"]
    if variant == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        # Its own registry: the app's default one already has our http_* metric names.
        Instrumentator(registry=CollectorRegistry()).instrument(app)
    elif variant == "basehttp":
        add_basehttp_metrics(app, CollectorRegistry())
    return app


def alternative_app(variant: str) -> Any:
    """The bare app with a full set-up a team would choose instead of ours.

    ``zero-code``: this process runs under ``opentelemetry-instrument`` (see ``Server``): its
    sitecustomize has already configured the SDK (tracer, meter and logger providers, OTLP
    exporters) and patched FastAPI, SQLAlchemy, httpx and logging before anything here ran.
    ``blueswen``: the demo's set-up is built below, on the bare app.

    The package reads ``OTEL_SDK_DISABLED`` at each call
    (loan_desk_telemetry.resource.sdk_disabled),
    the SDK when a provider is made: set from here on, the package adds no telemetry of its own
    (no providers, no OTLP handler, no server or statement spans), while the providers made
    before this line keep working. What stays of the package is what ``bare`` keeps (the app's
    structlog pipeline to stdout).
    """
    import logging

    from loan_api.main import create_app
    from loan_desk_telemetry._otlp_log_handler import (
        OtlpLogHandler,  # internal: the bench measures it alone
    )

    provider = blueswen_tracer_provider() if variant == "blueswen" else None
    os.environ["OTEL_SDK_DISABLED"] = "true"
    app = bare(create_app())
    if any(isinstance(h, OtlpLogHandler) for h in logging.getLogger().handlers):
        raise RuntimeError("the package installed its OTLP handler in an alternative's process")
    # A service without our package has no access line of its own: uvicorn's is the one it gets
    # (the package sets uvicorn.access to WARNING because it writes its own line).
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    if variant == "blueswen":
        add_blueswen_setup(app, provider)
    return app


# blueswen/fastapi-observability as its repository publishes it, rebuilt here (not copied):
# fastapi_app/utils.py and fastapi_app/main.py at commit 132a3c576f8b09e5311c68bd553215013bc75685.
# - setting_otlp(): TracerProvider with a service.name resource, set as the global provider, a
#   BatchSpanProcessor with an OTLP span exporter (gRPC to Tempo there; OTLP/HTTP to the same sink
#   as every variant here, the same protobuf encoding), LoggingInstrumentor().instrument(
#   set_logging_format=True), FastAPIInstrumentor.instrument_app(app, tracer_provider=...).
# - PrometheusMiddleware(BaseHTTPMiddleware): fastapi_* metrics on the default registry, the
#   route template found by matching every route of the app, exemplar {TraceID}, /metrics in
#   OpenMetrics.
# - uvicorn's access log in text with the trace ids the logging instrumentation injects, its
#   /metrics lines filtered out; logs leave on stdout only (Loki's Docker driver there).


def blueswen_tracer_provider() -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "loan-api"}))
    trace.set_tracer_provider(provider)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class _DemoMetrics:
    """The demo's six metrics, on the default registry (made once per process)."""

    made: _DemoMetrics | None = None

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        by_path = ["method", "path", "app_name"]
        self.info = Gauge("fastapi_app_info", "Application.", ["app_name"])
        self.requests = Counter("fastapi_requests_total", "Requests.", by_path)
        self.responses = Counter(
            "fastapi_responses_total", "Responses.", ["method", "path", "status_code", "app_name"]
        )
        self.duration = Histogram("fastapi_requests_duration_seconds", "Duration.", by_path)
        self.exceptions = Counter(
            "fastapi_exceptions_total",
            "Exceptions.",
            ["method", "path", "exception_type", "app_name"],
        )
        self.in_progress = Gauge("fastapi_requests_in_progress", "In progress.", by_path)

    @classmethod
    def get(cls) -> _DemoMetrics:
        if cls.made is None:
            cls.made = cls()
        return cls.made


def add_blueswen_setup(app: Any, provider: Any) -> None:
    import logging
    import sys

    from fastapi.routing import iter_route_contexts
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.logging import LoggingInstrumentor
    from prometheus_client import REGISTRY
    from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import Response
    from starlette.routing import Match
    from uvicorn.logging import AccessFormatter

    metrics = _DemoMetrics.get()

    class DemoPrometheusMiddleware(BaseHTTPMiddleware):
        def __init__(self, inner: Any, app_name: str) -> None:
            super().__init__(inner)
            self.app_name = app_name
            metrics.info.labels(app_name=app_name).inc()

        async def dispatch(self, request, call_next):  # type: ignore[no-untyped-def]
            # The demo matches each of app.routes in turn; FastAPI >= 0.137 nests included
            # routers there (its code would fail on them with AttributeError: no .path), so the
            # same walk goes over FastAPI's flattened routes.
            path = None
            for route in iter_route_contexts(request.app.routes):
                if route.matches(request.scope)[0] == Match.FULL:
                    path = route.path
                    break
            if path is None:  # not a route of the app: not counted
                return await call_next(request)
            method, name = request.method, self.app_name
            metrics.in_progress.labels(method=method, path=path, app_name=name).inc()
            metrics.requests.labels(method=method, path=path, app_name=name).inc()
            start = time.perf_counter()
            status = 500
            try:
                response = await call_next(request)
            except BaseException as exc:
                metrics.exceptions.labels(
                    method=method, path=path, exception_type=type(exc).__name__, app_name=name
                ).inc()
                raise
            else:
                status = response.status_code
                trace_id = trace.format_trace_id(
                    trace.get_current_span().get_span_context().trace_id
                )
                metrics.duration.labels(method=method, path=path, app_name=name).observe(
                    time.perf_counter() - start, exemplar={"TraceID": trace_id}
                )
            finally:
                metrics.responses.labels(
                    method=method, path=path, status_code=status, app_name=name
                ).inc()
                metrics.in_progress.labels(method=method, path=path, app_name=name).dec()
            return response

    async def metrics_route(_request: Any) -> Response:
        return Response(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.add_middleware(DemoPrometheusMiddleware, app_name="loan-api")
    app.add_route("/metrics", metrics_route)
    LoggingInstrumentor().instrument(set_logging_format=True)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)

    access = logging.getLogger("uvicorn.access")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        AccessFormatter(
            "%(asctime)s %(levelname)s [%(name)s] [%(filename)s:%(lineno)d] "
            "[trace_id=%(otelTraceID)s span_id=%(otelSpanID)s "
            "resource.service.name=%(otelServiceName)s] - %(message)s",
            use_colors=False,
        )
    )
    access.handlers = [handler]
    access.propagate = False
    access.addFilter(lambda record: "GET /metrics" not in record.getMessage())


def add_basehttp_metrics(app: Any, registry: Any) -> None:
    """The same metrics as ours, from a BaseHTTPMiddleware (as in the talk)."""
    from prometheus_client import Counter, Gauge, Histogram
    from starlette.middleware.base import BaseHTTPMiddleware

    from loan_desk_telemetry._metrics import DURATION_BUCKETS, HTTP_METHODS
    from loan_desk_telemetry._routes import route_of

    labels = ["method", "route", "status_code", "app_name"]
    duration = Histogram(
        "http_request_duration_seconds", "d", labels, buckets=DURATION_BUCKETS, registry=registry
    )
    in_progress = Gauge(
        "http_requests_in_progress", "p", ["method", "route", "app_name"], registry=registry
    )
    exceptions = Counter(
        "http_request_exceptions",
        "e",
        ["method", "route", "exception_type", "app_name"],
        registry=registry,
    )

    async def dispatch(request, call_next):  # type: ignore[no-untyped-def]
        method = request.method if request.method in HTTP_METHODS else "other"
        route = route_of(request.scope, app.routes)
        gauge = in_progress.labels(method, route, "loan-api")
        gauge.inc()
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        except Exception as exc:
            exceptions.labels(method, route, type(exc).__name__, "loan-api").inc()
            raise
        finally:
            gauge.dec()
            duration.labels(method, route, str(status), "loan-api").observe(
                time.perf_counter() - start
            )

    app.add_middleware(BaseHTTPMiddleware, dispatch=dispatch)


def serve(port: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from servicekit.serve import serve_app

    with contextlib.suppress(KeyboardInterrupt):  # how Server stops it, see Server.__exit__
        serve_app(
            "bench_telemetry:bench_app",
            host="127.0.0.1",
            port=port,
            workers=1,
            service_name="loan-api",
            log_level="INFO",
            log_format="json",
        )


# --------------------------------------------------------------------------- OTLP sink


class _Sink(BaseHTTPRequestHandler):
    """Answers every OTLP/HTTP export with 200 and keeps what it got, per signal."""

    protocol_version = "HTTP/1.1"
    received = 0  # bytes, over all handler threads (spans and logs arrive concurrently)
    bodies: list[tuple[str, bytes]] = []  # (path, body), emptied by take()
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip

            wire, body = len(body), gzip.decompress(body)
        else:
            wire = len(body)
        with self.lock:
            type(self).received += wire
            type(self).bodies.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass

    @classmethod
    def take(cls) -> list[tuple[str, bytes]]:
        with cls.lock:
            out, cls.bodies = cls.bodies, []
        return out


def otlp_census(bodies: list[tuple[str, bytes]]) -> dict[str, int]:
    """Bytes per signal, spans, log records and metric data points in OTLP/HTTP bodies."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    out = dict.fromkeys(("traces", "logs", "metrics", "spans", "log_records", "points"), 0)
    for path, body in bodies:
        signal = path.rstrip("/").rsplit("/", 1)[-1]  # /v1/traces, /v1/logs, /v1/metrics
        if signal not in ("traces", "logs", "metrics"):
            raise RuntimeError(f"OTLP sink: unexpected path {path}")
        out[signal] += len(body)
        if signal == "traces":
            traces = ExportTraceServiceRequest.FromString(body)
            out["spans"] += sum(len(s.spans) for r in traces.resource_spans for s in r.scope_spans)
        elif signal == "logs":
            logs = ExportLogsServiceRequest.FromString(body)
            out["log_records"] += sum(
                len(s.log_records) for r in logs.resource_logs for s in r.scope_logs
            )
        else:
            metrics = ExportMetricsServiceRequest.FromString(body)
            for r in metrics.resource_metrics:
                for s in r.scope_metrics:
                    for metric in s.metrics:
                        kind = metric.WhichOneof("data")
                        out["points"] += len(getattr(metric, kind).data_points) if kind else 0
    return out


# --------------------------------------------------------------------------- load


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(base: str, deadline: float) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


async def seed(base: str, count: int) -> list[tuple[str, str]]:
    """Create ``count`` applications through the api; returns (id, token) pairs."""
    import httpx

    body = {
        "first_name": "Steve",
        "last_name": "Schulze",
        "email": "steve.schulze@example.com",
        "product": "mortgage",
        "amount": 250_000,
    }
    out: list[tuple[str, str]] = []
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(count):
            response = await client.post("/api/v1/applications", json=body)
            response.raise_for_status()
            data = response.json()
            out.append((data["id"], data["token"]))
    return out


def requests_for(endpoint: str, applicants: list[tuple[str, str]]) -> list[tuple[bytes, int]]:
    """Raw HTTP/1.1 requests for ``endpoint`` and the status each must get."""
    out = []
    for application_id, token in applicants:
        path = ROUTE.format(application_id=application_id)
        if endpoint == "read":
            head = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
            out.append((head.encode(), 200))
        else:
            out.append((f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode(), 401))
    return out


async def _raw_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def _httpx_request(raw: bytes) -> tuple[str, dict[str, str]]:
    lines = raw.decode().split("\r\n")
    path = lines[0].split(" ")[1]
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers.pop("Host", None)
    return path, headers


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    port: int, pid: int, requests: list[tuple[bytes, int]], args: argparse.Namespace
) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=10
    ) as http:

        async def worker(offset: int, stop: float, record: bool) -> None:
            n = offset
            conn = (
                await asyncio.open_connection("127.0.0.1", port) if args.client == "raw" else None
            )
            try:
                while time.monotonic() < stop:
                    n = (n + 7) % len(requests)
                    raw, expected = requests[n]
                    start = time.perf_counter()
                    if conn is not None:
                        status = await _raw_get(conn[0], conn[1], raw)
                    else:
                        path, headers = _httpx_request(raw)
                        status = (await http.get(path, headers=headers)).status_code
                    elapsed = time.perf_counter() - start
                    if status != expected:
                        errors.append(status)
                    if record:
                        latencies.append(elapsed)
            finally:
                if conn is not None:
                    conn[1].close()

        warm = time.monotonic() + min(1.0, args.seconds / 3)
        await asyncio.gather(*(worker(i, warm, False) for i in range(args.concurrency)))
        cpu_before = cpu_seconds(pid)
        stop = time.monotonic() + args.seconds
        await asyncio.gather(*(worker(i * 13, stop, True) for i in range(args.concurrency)))
        cpu = cpu_seconds(pid) - cpu_before
    if errors:
        raise RuntimeError(f"{len(errors)} unexpected statuses on :{port}: {sorted(set(errors))}")
    return {
        "rps": len(latencies) / args.seconds,
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "cpu_us": cpu / max(1, len(latencies)) * 1e6,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Server:
    """One variant of the api in a uvicorn subprocess.

    ``zero-code`` runs the same command under ``opentelemetry-instrument`` (the console script of
    opentelemetry-instrumentation, next to this interpreter): it puts its sitecustomize first on
    PYTHONPATH and execs the command, so the server keeps this pid.
    """

    def __init__(
        self,
        variant: str,
        env: dict[str, str],
        cpus: set[int] | None = None,
        *,
        ready: str = "http",
    ) -> None:
        self.variant = variant
        self.port = free_port()
        self.ready = ready
        command = [sys.executable, __file__, "--serve", "--port", str(self.port)]
        if variant == "zero-code":
            command = [str(Path(sys.executable).with_name("opentelemetry-instrument")), *command]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**env, "BENCH_VARIANT": variant},
            cwd=ROOT,
        )
        if cpus:
            # --pin: right after the spawn, long before the interpreter has started a thread
            # (threads inherit the affinity of the thread that starts them).
            os.sched_setaffinity(self.proc.pid, cpus)

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 30
        try:
            if self.ready == "http":
                asyncio.run(wait_ready(f"http://127.0.0.1:{self.port}", deadline))
            else:
                wait_listening(self.port, self.proc, deadline)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        # SIGINT, not SIGTERM: uvicorn (>= 0.29, uvicorn/server.py capture_signals) re-raises the
        # signal it stopped on once it is done, and a re-raised SIGTERM kills the interpreter
        # before its atexit hooks run. The alternatives flush their exporters only there
        # (ours flushes in the app's lifespan), so they would lose what is still queued.
        # SIGINT ends in KeyboardInterrupt (caught in serve()) and a normal exit.
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Until the server accepts connections (uvicorn listens once the app's startup is done),
    without sending a request (the census counts the telemetry of its requests only)."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on :{port} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server on :{port} did not start")


async def send_sequentially(port: int, requests: list[tuple[bytes, int]], count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw, expected in requests[:count]:
            status = await _raw_get(reader, writer, raw)
            if status != expected:
                raise RuntimeError(f"census on :{port}: {status}, expected {expected}")
    finally:
        writer.close()


def census(
    variant: str, env: dict[str, str], requests: dict[str, list[tuple[bytes, int]]]
) -> dict[str, dict[str, float]]:
    """What one request of each endpoint exports, exactly: a server of the variant that served
    1 + ``CENSUS_REQUESTS`` requests of one endpoint and nothing else, minus one that served 1
    (start-up and shutdown log lines, metrics at exit, and what the first request does once:
    connecting the pool, the dialect's first statements). Metric points are those pushed at exit
    after the longer run (pushed metrics are cumulative, not per request)."""

    def run(endpoint: str, count: int) -> dict[str, int]:
        _Sink.take()
        with Server(variant, env, ready="tcp") as server:
            asyncio.run(send_sequentially(server.port, requests[endpoint], count))
        return otlp_census(_Sink.take())

    out: dict[str, dict[str, float]] = {}
    for endpoint in ENDPOINTS:
        once = run(endpoint, 1)
        got = run(endpoint, 1 + CENSUS_REQUESTS)
        per = {k: (got[k] - once[k]) / CENSUS_REQUESTS for k in ("spans", "log_records")}
        per["bytes"] = (got["traces"] + got["logs"] - once["traces"] - once["logs"]) / (
            CENSUS_REQUESTS
        )
        per["points"] = got["points"]
        per["metrics_bytes"] = got["metrics"]
        out[endpoint] = per
    return out


def server_env(
    variant: str, database_url: str, sink_port: int, extra: dict[str, str]
) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PROMETHEUS_MULTIPROC_DIR", "ADMIN_ENABLED"):
        env.pop(key, None)
    env.update(
        DATABASE_URL=database_url,
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "app"), env.get("PYTHONPATH")])),
    )
    if variant.startswith("instrumented") or variant in ("sdk-floor", "metrics-logs"):
        env.pop("OTEL_SDK_DISABLED", None)
        if variant == "metrics-logs":
            env.update(METRICS_LOGS_ENV)
        env.update(extra)
    elif variant == "zero-code":
        env.pop("OTEL_SDK_DISABLED", None)
        # Its defaults, spelled out (names checked in opentelemetry-python-contrib 0.66b2, the
        # locked version: opentelemetry-distro/src/opentelemetry/distro/__init__.py sets the
        # three exporters to otlp; instrumentation/opentelemetry-instrumentation-logging/src/
        # opentelemetry/instrumentation/logging/__init__.py installs its LoggingHandler on the
        # root logger unless OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false, and skips it when the
        # SDK's deprecated OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true handler is on).
        # The protocol is the one every variant uses (the distro's default is grpc).
        env.update(
            OTEL_SERVICE_NAME="loan-api",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="otlp",
            OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION="true",
        )
        for key in (
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED",
            "OTEL_SEMCONV_STABILITY_OPT_IN",
        ):
            env.pop(key, None)  # the SDK's deprecated handler; the contrib's default conventions
    elif variant == "blueswen":
        env.pop("OTEL_SDK_DISABLED", None)  # its TracerProvider is made in the server
    else:
        env["OTEL_SDK_DISABLED"] = "true"
    return env


@contextlib.contextmanager
def bench_database(postgres_url: str | None, tmp: str) -> Iterator[str]:
    """A migrated, empty database: a SQLite file in ``tmp``, or a new PostgreSQL database."""
    from loan_api.migrate import upgrade

    if postgres_url is None:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)
        print("database: SQLite file (aiosqlite)")
        yield url
        return
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"loan_bench_{os.getpid()}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        print(f"database: PostgreSQL (asyncpg), {name}, dropped at the end")
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc={os.cpu_count()}, CPU: {model}, Python {platform.python_version()}"


def parse_variant_env(specs: list[str]) -> dict[str, dict[str, str]]:
    """``--variant-env name:KEY=V,KEY=V`` -> {"instrumented-name": {...}}."""
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, _, assignments = spec.partition(":")
        env = dict(a.split("=", 1) for a in assignments.split(",") if a)
        out[f"instrumented-{name}"] = env
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument(
        "--variants", default=",".join(BASE_VARIANTS), help="comma-separated subset"
    )
    parser.add_argument(
        "--variant-env",
        action="append",
        default=[],
        metavar="NAME:KEY=V[,KEY=V]",
        help="an extra instrumented variant with these environment variables "
        "(e.g. sampled10:OTEL_TRACES_SAMPLER=parentbased_traceidratio,OTEL_TRACES_SAMPLER_ARG=0.1)",
    )
    parser.add_argument(
        "--postgres-url",
        metavar="URL",
        help="measure on PostgreSQL (asyncpg, as the compose stack runs it) instead of a SQLite "
        "file: a server URL whose role may create databases (e.g. $TEST_POSTGRES_URL); a fresh "
        "database is created, migrated and dropped",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="serve on CPU 0 alone and run the client and the OTLP sink on the other CPUs "
        "(Linux; needs at least 2), so the service does not share its core with the load",
    )
    parser.add_argument(
        "--no-census",
        dest="census",
        action="store_false",
        help="skip counting what one request of each endpoint exports (spans, log records, "
        "OTLP bytes)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return 0

    extra_variants = parse_variant_env(args.variant_env)
    variants = [v for v in args.variants.split(",") if v] + list(extra_variants)
    if "bare" not in variants:
        variants.insert(0, "bare")
    server_cpus: set[int] | None = None
    if args.pin:
        available = os.sched_getaffinity(0)
        if len(available) < 2:
            parser.error("--pin needs at least 2 CPUs")
        server_cpus = {min(available)}
        os.sched_setaffinity(0, available - server_cpus)
    sink = ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sink_port = sink.server_address[1]
    print(machine())
    print(
        f"{args.seconds:g} s per endpoint, concurrency {args.concurrency}, "
        f"{args.rounds} rounds, {args.client} client"
        + (f", server pinned to CPU {sorted(server_cpus)}" if server_cpus else "")
    )
    unknown = [v for v in variants if v not in BASE_VARIANTS and v not in extra_variants]
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    runs: dict[str, list[dict[str, dict[str, float]]]] = {v: [] for v in variants}
    exports: dict[str, dict[str, dict[str, float]]] = {}
    width = max(len(v) for v in variants)
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database(args.postgres_url, tmp) as database_url,
    ):
        with Server("bare", server_env("bare", database_url, sink_port, {})) as server:
            applicants = asyncio.run(seed(f"http://127.0.0.1:{server.port}", APPLICATIONS))
        requests = {e: requests_for(e, applicants) for e in ENDPOINTS}
        _Sink.take()
        if args.census:
            for variant in variants:
                env = server_env(variant, database_url, sink_port, extra_variants.get(variant, {}))
                exports[variant] = census(variant, env, requests)
                print(f"  census {variant:<{width}} {_census_line(exports[variant])}", flush=True)
        for round_no in range(args.rounds):
            for variant in variants:
                env = server_env(variant, database_url, sink_port, extra_variants.get(variant, {}))
                received = _Sink.received
                with Server(variant, env, server_cpus) as server:
                    result = {
                        e: asyncio.run(drive(server.port, server.proc.pid, requests[e], args))
                        for e in ENDPOINTS
                    }
                runs[variant].append(result)
                rps = {e: round(r["rps"]) for e, r in result.items()}
                # After the server stopped: its shutdown flushed what was still queued.
                otlp_kib = (_Sink.received - received) / 1024
                got = otlp_census(_Sink.take())
                print(
                    f"  round {round_no + 1} {variant:<{width}} {rps}"
                    f" OTLP received {otlp_kib:.0f} KiB (traces {got['traces'] / 1024:.0f},"
                    f" logs {got['logs'] / 1024:.0f}, metrics {got['metrics'] / 1024:.0f})",
                    flush=True,
                )
    sink.shutdown()
    report(runs, variants, exports, width)
    return 0


def _census_line(per: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{e}: {p['spans']:g} spans, {p['log_records']:g} log records,"
        f" {p['bytes']:.0f} B OTLP per request, {p['points']:.0f} metric points at exit"
        for e, p in per.items()
    )


def report(
    runs: dict[str, list[dict[str, dict[str, float]]]],
    variants: list[str],
    exports: dict[str, dict[str, dict[str, float]]],
    width: int,
) -> None:
    def median(variant: str, endpoint: str, key: str) -> float:
        return statistics.median(run[endpoint][key] for run in runs[variant])

    def ratios(variant: str, other: str, endpoint: str, key: str = "rps") -> list[float]:
        """Throughput of ``variant`` over ``other``, round by round (same round, next door);
        with ``key="cpu_us"`` the same from the server's CPU time per request (other / mine:
        what the service could serve on a core of its own, less sensitive to other load on the
        machine than req/s)."""
        pairs = zip(runs[variant], runs[other], strict=True)
        if key == "cpu_us":
            return [theirs[endpoint][key] / mine[endpoint][key] for mine, theirs in pairs]
        return [mine[endpoint][key] / theirs[endpoint][key] for mine, theirs in pairs]

    print()
    keys = ("rps", "p50", "p99", "cpu_us")
    header = f"{'endpoint':<9} {'variant':<{width}} {'req/s':>7} {'range':>9} {'p50 ms':>7}"
    header += f" {'p99 ms':>7} {'cpu us/req':>10} {'rps/bare':>8} {'p50/bare':>8} {'p99/bare':>8}"
    print(header)
    for endpoint in ENDPOINTS:
        bare = {k: median("bare", endpoint, k) for k in keys}
        for variant in variants:
            row = {k: median(variant, endpoint, k) for k in keys}
            spread = [run[endpoint]["rps"] for run in runs[variant]]
            print(
                f"{endpoint:<9} {variant:<{width}} {row['rps']:>7.0f}"
                f" {f'{min(spread):.0f}-{max(spread):.0f}':>9} {row['p50']:>7.2f}"
                f" {row['p99']:>7.2f} {row['cpu_us']:>10.0f}"
                f" {row['rps'] / bare['rps']:>8.2f} {row['p50'] / bare['p50']:>8.2f}"
                f" {row['p99'] / bare['p99']:>8.2f}"
            )
    if exports:
        print()
        print(
            f"{'endpoint':<9} {'variant':<{width}} {'spans':>6} {'logs':>5} {'OTLP B':>7}"
            "  (exported per request)"
        )
        for endpoint in ENDPOINTS:
            for variant in variants:
                per = exports[variant][endpoint]
                print(
                    f"{endpoint:<9} {variant:<{width}} {per['spans']:>6g} {per['log_records']:>5g}"
                    f" {per['bytes']:>7.0f}"
                )
    print()

    def verdict(label: str, mine: str, other: str, endpoint: str, bar: float) -> None:
        values = ratios(mine, other, endpoint)
        cpu = ratios(mine, other, endpoint, "cpu_us")
        middle = statistics.median(values)
        outcome = "met" if middle >= bar else "NOT met"
        print(
            f"target: {label} >= {bar:.2f}: {middle:.2f}"
            f" (rounds {min(values):.2f}-{max(values):.2f}), {outcome};"
            f" by CPU per request {statistics.median(cpu):.2f}"
            f" (rounds {min(cpu):.2f}-{max(cpu):.2f})"
        )

    if "instrumented" in variants:
        read = median("instrumented", "read", "rps") / median("bare", "read", "rps")
        outcome = "met" if read >= TARGET else "NOT met"
        print(
            f"target: instrumented throughput >= {TARGET:.0%} of bare on read: "
            f"{read:.0%}, {outcome}"
        )
        for other in ALTERNATIVES:
            if other in variants:
                for endpoint in ENDPOINTS:
                    verdict(
                        f"instrumented/{other} on {endpoint}", "instrumented", other, endpoint, 1.0
                    )
    if "metrics-logs" in variants:
        for endpoint in ENDPOINTS:
            verdict(
                f"metrics-logs/bare on {endpoint}",
                "metrics-logs",
                "bare",
                endpoint,
                METRICS_LOGS_TARGET,
            )


if __name__ == "__main__":
    raise SystemExit(main())

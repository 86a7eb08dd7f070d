"""Overhead of the observability package on the real loan-api, measured over HTTP on loopback.

    uv run python scripts/bench_telemetry.py [--seconds 4] [--concurrency 16] [--rounds 3]

One run migrates a SQLite file database (``loan_api.migrate.upgrade``), seeds it with
applications through the api itself, then serves the shipped app (``loan_api.main:create_app``
through ``servicekit.serve.serve_app``: uvicorn, one worker, ``log_config=None``, JSON log lines
to stdout, which goes to /dev/null) in a subprocess, in five variants:

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
interleaved and repeated (``--rounds``); the median round is kept. Prints req/s, p50/p99 latency,
the server process's CPU time per request, and the ratios against ``bare``. Loopback only,
bounded time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
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

BASE_VARIANTS = ("bare", "instrumented", "sdk-floor", "instrumentator", "basehttp")
ENDPOINTS = ("read", "no-token")
ROUTE = "/api/v1/applications/{application_id}"
ROOT = Path(__file__).resolve().parents[1]
APPLICATIONS = 200
TARGET = 0.85


# --------------------------------------------------------------------------- the service


def bench_app() -> Any:
    """uvicorn factory (``bench_telemetry:bench_app``): the shipped app, adjusted per variant."""
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    from loan_api.main import create_app
    from observability import PrometheusMiddleware

    variant = os.environ["BENCH_VARIANT"]
    if variant == "sdk-floor":
        from bench_floor import floor_app  # this directory is on sys.path in the server

        return floor_app()
    app: FastAPI = create_app()
    if variant.startswith("instrumented"):
        return app
    # Bare: the package's middleware and /metrics route out, before the stack is built.
    app.user_middleware = [m for m in app.user_middleware if m.cls is not PrometheusMiddleware]
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != "/metrics"]
    if variant == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        # Its own registry: the app's default one already has our http_* metric names.
        Instrumentator(registry=CollectorRegistry()).instrument(app)
    elif variant == "basehttp":
        add_basehttp_metrics(app, CollectorRegistry())
    return app


def add_basehttp_metrics(app: Any, registry: Any) -> None:
    """The same metrics as ours, from a BaseHTTPMiddleware (as in the talk)."""
    from prometheus_client import Counter, Gauge, Histogram
    from starlette.middleware.base import BaseHTTPMiddleware

    from observability._metrics import DURATION_BUCKETS, HTTP_METHODS
    from observability._routes import route_of

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
    protocol_version = "HTTP/1.1"
    received = 0  # bytes, over all handler threads (spans and logs arrive concurrently)
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            type(self).received += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


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
    """One variant of the api in a uvicorn subprocess."""

    def __init__(self, variant: str, env: dict[str, str], cpus: set[int] | None = None) -> None:
        self.variant = variant
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port", str(self.port)],
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
        try:
            asyncio.run(wait_ready(f"http://127.0.0.1:{self.port}", time.monotonic() + 30))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


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
    if variant.startswith("instrumented") or variant == "sdk-floor":
        env.pop("OTEL_SDK_DISABLED", None)
        env.update(extra)
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
    runs: dict[str, list[dict[str, dict[str, float]]]] = {v: [] for v in variants}
    width = max(len(v) for v in variants)
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database(args.postgres_url, tmp) as database_url,
    ):
        with Server("bare", server_env("bare", database_url, sink_port, {})) as server:
            applicants = asyncio.run(seed(f"http://127.0.0.1:{server.port}", APPLICATIONS))
        requests = {e: requests_for(e, applicants) for e in ENDPOINTS}
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
                print(
                    f"  round {round_no + 1} {variant:<{width}} {rps}"
                    f" OTLP received {otlp_kib:.0f} KiB",
                    flush=True,
                )
    sink.shutdown()

    def median(variant: str, endpoint: str, key: str) -> float:
        return statistics.median(run[endpoint][key] for run in runs[variant])

    print()
    keys = ("rps", "p50", "p99", "cpu_us")
    header = f"{'endpoint':<9} {'variant':<{width}} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
    header += f" {'cpu us/req':>10} {'rps/bare':>8} {'p50/bare':>8} {'p99/bare':>8}"
    print(header)
    verdict = None
    for endpoint in ENDPOINTS:
        bare = {k: median("bare", endpoint, k) for k in keys}
        for variant in variants:
            row = {k: median(variant, endpoint, k) for k in keys}
            ratios = [row["rps"] / bare["rps"], row["p50"] / bare["p50"], row["p99"] / bare["p99"]]
            print(
                f"{endpoint:<9} {variant:<{width}} {row['rps']:>7.0f} {row['p50']:>7.2f}"
                f" {row['p99']:>7.2f} {row['cpu_us']:>10.0f}"
                f" {ratios[0]:>8.2f} {ratios[1]:>8.2f} {ratios[2]:>8.2f}"
            )
            if endpoint == "read" and variant == "instrumented":
                verdict = ratios[0]
    print()
    if verdict is not None:
        outcome = "met" if verdict >= TARGET else "NOT met"
        print(
            f"target: instrumented throughput >= {TARGET:.0%} of bare on read: "
            f"{verdict:.0%}, {outcome}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

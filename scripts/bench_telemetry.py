"""Overhead of the observability package, measured over real HTTP on loopback.

    uv run python scripts/bench_telemetry.py [--seconds 4] [--concurrency 16] [--rounds 2]

One run starts the same small service (uvicorn, one worker, in a subprocess) in four variants:

- ``bare``: no instrumentation, ``OTEL_SDK_DISABLED=true``, stdlib logging at WARNING;
- ``instrumented``: ``configure_logging`` (JSON to stdout, sent to /dev/null), ``setup_telemetry``
  (OTLP/HTTP to a sink server in this process that answers 200), ``instrument_app``,
  ``instrument_sqlalchemy``: everything a service gets;
- ``instrumentator``: bare + prometheus-fastapi-instrumentator (a peer's metrics baseline);
- ``basehttp``: bare + the same metrics as ours, from a ``BaseHTTPMiddleware`` (the talk's shape).

Each variant serves ``GET /db/{item_id}`` (a SELECT through SQLAlchemy async + aiosqlite on a
file database in a temp dir) and ``GET /ping`` (trivial). An httpx client with bounded
concurrency drives each endpoint for a fixed time after a warm-up; variants are interleaved and
repeated (``--rounds``), the median round is kept. Prints req/s and p50/p99 latency, and the
ratios against ``bare``. Loopback only, bounded time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VARIANTS = ("bare", "instrumented", "instrumentator", "basehttp")
ENDPOINTS = ("/db/{n}", "/ping")
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the service


def build_app(variant: str, db_path: str):  # type: ignore[no-untyped-def]
    from fastapi import FastAPI
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}")

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/db/{item_id}")
    async def read(item_id: int) -> dict[str, object]:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT id, name FROM items WHERE id = :id"), {"id": item_id}
                )
            ).one()
        return {"id": row.id, "name": row.name}

    if variant == "instrumented":
        import observability

        observability.configure_logging(service_name="bench", level="INFO", fmt="json")
        observability.setup_telemetry(service_name="bench", service_version="0")
        observability.instrument_app(app, service_name="bench", service_version="0")
        observability.instrument_sqlalchemy(engine)
    elif variant == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app).expose(app)
    elif variant == "basehttp":
        add_basehttp_metrics(app)
    return app


def add_basehttp_metrics(app) -> None:  # type: ignore[no-untyped-def]
    """The same metrics as ours, from a BaseHTTPMiddleware (as in the talk)."""
    from prometheus_client import REGISTRY, Counter, Gauge, Histogram
    from starlette.middleware.base import BaseHTTPMiddleware

    from observability.metrics import DURATION_BUCKETS, HTTP_METHODS
    from observability.routes import route_of

    duration = Histogram(
        "http_request_duration_seconds",
        "d",
        ["method", "route", "status_code", "app_name"],
        buckets=DURATION_BUCKETS,
        registry=REGISTRY,
    )
    in_progress = Gauge("http_requests_in_progress", "p", ["method", "route", "app_name"])
    exceptions = Counter(
        "http_request_exceptions", "e", ["method", "route", "exception_type", "app_name"]
    )

    async def dispatch(request, call_next):  # type: ignore[no-untyped-def]
        method = request.method if request.method in HTTP_METHODS else "other"
        route = route_of(request.scope, app.routes)
        gauge = in_progress.labels(method, route, "bench")
        gauge.inc()
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        except Exception as exc:
            exceptions.labels(method, route, type(exc).__name__, "bench").inc()
            raise
        finally:
            gauge.dec()
            duration.labels(method, route, str(status), "bench").observe(
                time.perf_counter() - start
            )

    app.add_middleware(BaseHTTPMiddleware, dispatch=dispatch)


def serve(variant: str, port: int, db_path: str) -> None:
    import logging

    import uvicorn

    if variant != "instrumented":
        os.environ["OTEL_SDK_DISABLED"] = "true"
        logging.basicConfig(level=logging.WARNING)
    app = build_app(variant, db_path)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        loop="uvloop" if _has("uvloop") else "asyncio",
    )


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def make_db(path: str) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO items (id, name) VALUES (?, ?)", [(i, f"item-{i}") for i in range(1000)]
        )


# --------------------------------------------------------------------------- OTLP sink


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
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
                if (await client.get("/ping")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


async def _raw_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    # A minimal HTTP/1.1 keep-alive client: httpx costs more CPU per request than the server
    # under test on a small machine, and the client would then be what is measured.
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def drive(
    port: int, path: str, seconds: float, concurrency: int, client: str
) -> tuple[int, list[float]]:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=10
    ) as http:

        async def worker(offset: int, stop: float, record: bool) -> None:
            nonlocal errors
            n = offset
            conn = await asyncio.open_connection("127.0.0.1", port) if client == "raw" else None
            try:
                while time.monotonic() < stop:
                    n = (n + 7) % 1000
                    target = path.format(n=n)
                    start = time.perf_counter()
                    if conn is not None:
                        status = await _raw_get(conn[0], conn[1], target)
                    else:
                        status = (await http.get(target)).status_code
                    elapsed = time.perf_counter() - start
                    if status != 200:
                        errors += 1
                    if record:
                        latencies.append(elapsed)
            finally:
                if conn is not None:
                    conn[1].close()

        warm = time.monotonic() + min(1.0, seconds / 3)
        await asyncio.gather(*(worker(i, warm, False) for i in range(concurrency)))
        stop = time.monotonic() + seconds
        await asyncio.gather(*(worker(i, stop, True) for i in range(concurrency)))
    if errors:
        raise RuntimeError(f"{errors} failed requests on :{port}{path}")
    return len(latencies), latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    variant: str, db_path: str, sink_port: int, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    port = free_port()
    env = dict(os.environ)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", variant, "--port", str(port), "--db", db_path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    try:
        asyncio.run(wait_ready(base, time.monotonic() + 30))
        for path in ENDPOINTS:
            count, latencies = asyncio.run(
                drive(port, path, args.seconds, args.concurrency, args.client)
            )
            results[path] = {
                "rps": count / args.seconds,
                "p50": percentile(latencies, 0.50) * 1000,
                "p99": percentile(latencies, 0.99) * 1000,
            }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--serve", choices=VARIANTS)
    parser.add_argument("--port", type=int)
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.db)
        return 0

    sink = ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    print(machine())
    print(
        f"{args.seconds:g} s per endpoint, concurrency {args.concurrency}, "
        f"{args.rounds} rounds, {args.client} client"
    )
    runs: dict[str, list[dict[str, dict[str, float]]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "bench.db")
        make_db(db_path)
        for round_no in range(args.rounds):
            for variant in VARIANTS:
                runs[variant].append(measure(variant, db_path, sink.server_address[1], args))
                rps = {p: round(r["rps"]) for p, r in runs[variant][-1].items()}
                print(f"  round {round_no + 1} {variant:<15} {rps}", flush=True)
    sink.shutdown()

    def median(variant: str, path: str, key: str) -> float:
        return statistics.median(run[path][key] for run in runs[variant])

    print()
    header = f"{'endpoint':<10} {'variant':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    header += f" {'rps/bare':>9} {'p50/bare':>9} {'p99/bare':>9}"
    print(header)
    verdict = True
    for path in ENDPOINTS:
        bare = {k: median("bare", path, k) for k in ("rps", "p50", "p99")}
        for variant in VARIANTS:
            row = {k: median(variant, path, k) for k in ("rps", "p50", "p99")}
            ratios = [row["rps"] / bare["rps"], row["p50"] / bare["p50"], row["p99"] / bare["p99"]]
            print(
                f"{path:<10} {variant:<15} {row['rps']:>8.0f} {row['p50']:>8.2f} {row['p99']:>8.2f}"
                f" {ratios[0]:>9.2f} {ratios[1]:>9.2f} {ratios[2]:>9.2f}"
            )
            if path == "/db/{n}" and variant == "instrumented":
                verdict = ratios[0] >= 0.85
    print()
    outcome = "met" if verdict else "NOT met"
    print(f"target: instrumented throughput >= 85% of bare on /db/{{n}}: {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

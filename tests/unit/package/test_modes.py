"""Modes of the observability package: collector outage and return, OTEL_SDK_DISABLED, the
global-provider path (FastAPI's built-in telemetry standing down), multiprocess metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

import loan_desk_telemetry
from loan_desk_telemetry._otlp_log_handler import OtlpLogHandler
from tests.support.tools import environment_without, free_port, run_python

ROOT = Path(__file__).resolve().parents[3]


def small_app(registry: CollectorRegistry, tracer_provider: object = None) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        structlog.get_logger("app").info("reading", item_id=item_id)
        return {"item_id": item_id}

    loan_desk_telemetry.instrument_app(
        app,
        service_name="svc",
        service_version="1",
        registry=registry,
        tracer_provider=tracer_provider,
    )
    return app


def _record_export_threads(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The threads the OTLP/HTTP exporters' ``export`` runs in (the exporters setup_telemetry
    makes from the environment: _telemetry._otlp_span_exporter / _otlp_log_exporter)."""
    threads: set[int] = set()
    for exporter in (HttpSpanExporter, HttpLogExporter):
        original = exporter.export

        def export(self: object, batch: object, _original: Any = original) -> object:
            threads.add(threading.get_ident())
            return _original(self, batch)

        monkeypatch.setattr(exporter, "export", export)
    return threads


class _Collector(BaseHTTPRequestHandler):
    received: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_collector_outage_serves_every_request_without_flooding_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()  # nothing listens here
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "20")
    export_threads = _record_export_threads(monkeypatch)
    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    telemetry = loan_desk_telemetry.setup_telemetry(
        service_name="svc",
        service_version="1",
        tracer_provider=TracerProvider(),
        logger_provider=LoggerProvider(),
    )
    app = small_app(CollectorRegistry(), telemetry.tracer_provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for i in range(200):
            response = await client.get(f"/items/{i}")
            assert response.status_code == 200
            if i % 20 == 0:
                await asyncio.sleep(0.05)  # let the batch threads try (and fail) to export
        await asyncio.sleep(0.5)

        # Exports ran (and failed) in the batch threads, never in a request: no export call on
        # the event loop's thread, where the app serves the requests. (Asserted by thread, not
        # by a latency bound: on a loaded 2-core machine at nice 10 a request alone can take
        # longer than the exporter's 0.2 s timeout.)
        assert export_threads, "no export was attempted"
        assert threading.get_ident() not in export_threads
        otel_lines = [
            json.loads(line)
            for line in stream.getvalue().splitlines()
            if '"logger": "opentelemetry' in line
        ]
        assert otel_lines, "the outage was not reported at all"
        per_message: dict[tuple[str, str], int] = {}
        for line in otel_lines:
            key = (line["logger"], line["event"].split(" ")[0])
            per_message[key] = per_message.get(key, 0) + 1
        # One line per (logger, message) for the whole outage, not one per failed batch.
        assert set(per_message.values()) == {1}
        assert len(otel_lines) <= 6
        app_lines = [
            line for line in stream.getvalue().splitlines() if '"event": "reading"' in line
        ]
        assert len(app_lines) == 200

        # The collector comes back on the same port: telemetry flows again, no restart.
        handler = type("Handler", (_Collector,), {"received": []})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            for i in range(5):
                assert (await client.get(f"/items/{i}")).status_code == 200
            await asyncio.to_thread(telemetry.force_flush)
            assert "/v1/traces" in handler.received
            assert "/v1/logs" in handler.received
        finally:
            server.shutdown()
            server.server_close()
    telemetry.shutdown()


async def test_sdk_disabled_turns_opentelemetry_off_and_keeps_metrics_and_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    stream = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stream)
    telemetry = loan_desk_telemetry.setup_telemetry(service_name="svc", service_version="1")
    assert telemetry.enabled is False
    assert not [h for h in logging.getLogger().handlers if isinstance(h, OtlpLogHandler)]
    registry = CollectorRegistry()
    app = small_app(registry)
    assert getattr(app, "_is_instrumented_by_opentelemetry", False) is False
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.get("/items/1")).status_code == 200
    value = registry.get_sample_value(
        "http_request_duration_seconds_count",
        {"method": "GET", "route": "/items/{item_id}", "status_code": "200", "app_name": "svc"},
    )
    assert value == 1.0
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["reading", "request"]
    assert all("trace_id" not in line for line in lines)
    telemetry.shutdown()


GLOBAL_SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    import httpx
    import loan_desk_telemetry
    from fastapi import FastAPI
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry

    spans = InMemorySpanExporter()
    telemetry = loan_desk_telemetry.setup_telemetry(
        service_name="svc", service_version="1",
        span_exporter=spans, log_exporter=InMemoryLogRecordExporter(),
    )
    again = loan_desk_telemetry.setup_telemetry(service_name="svc", service_version="1")
    app = FastAPI()
    sub = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {"item_id": item_id}

    @sub.get("/things/{thing_id}")
    async def thing(thing_id: int):
        return {"thing_id": thing_id}

    app.mount("/sub", sub)
    loan_desk_telemetry.instrument_app(app, service_name="svc", service_version="1",
                                 registry=CollectorRegistry())

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            for path in ("/items/1", "/sub/things/2", "/metrics", "/health/live"):
                await client.get(path)
        telemetry.force_flush()
        print(json.dumps({
            "same_handle": again is telemetry,
            "spans": [[s.name, s.kind.name] for s in spans.get_finished_spans()],
        }))

    asyncio.run(main())
    """
)


def test_global_providers_give_exactly_one_server_span_per_request() -> None:
    # Global providers can be set once per process, and FastAPI's built-in telemetry activates
    # on them: run the production path in a fresh interpreter.
    output = run_python(GLOBAL_SCRIPT, env=environment_without("OTEL_", "PROMETHEUS_"), cwd=ROOT)
    out = json.loads(output.strip().splitlines()[-1])
    assert out["same_handle"] is True
    assert sorted(map(tuple, out["spans"])) == [
        ("GET /items/{item_id}", "SERVER"),
        ("GET /sub/things/{thing_id}", "SERVER"),
    ]


MULTIPROC_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    import httpx
    import loan_desk_telemetry
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {"item_id": item_id}

    loan_desk_telemetry.instrument_app(app, service_name="svc", service_version="1.2.3",
                                 registry=CollectorRegistry())

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            for i in range(int(sys.argv[1])):
                assert (await client.get(f"/items/{i}")).status_code == 200
            if sys.argv[2] == "scrape":
                om = await client.get(
                    "/metrics", headers={"Accept": "application/openmetrics-text"}
                )
                print(om.text)

    asyncio.run(main())
    """
)


def test_multiprocess_mode_sums_workers(tmp_path: Path) -> None:
    env = environment_without(
        "OTEL_", "PROMETHEUS_", PROMETHEUS_MULTIPROC_DIR=str(tmp_path), OTEL_SDK_DISABLED="true"
    )

    def run(count: int, mode: str) -> str:
        return run_python(MULTIPROC_WORKER, str(count), mode, env=env, cwd=ROOT)

    run(3, "quiet")
    run(4, "quiet")
    text = run(5, "scrape")
    count_line = (
        'http_request_duration_seconds_count{app_name="svc",method="GET",'
        'route="/items/{item_id}",status_code="200"} 12.0'
    )
    assert count_line in text.splitlines()
    assert 'app_info{app_name="svc",version="1.2.3"} 1.0' in text.splitlines()
    assert " # {" not in text  # no exemplars in multiprocess mode

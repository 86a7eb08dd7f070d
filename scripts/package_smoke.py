"""The observability wheel in a fresh environment: a FastAPI app, one request, one scrape.

Run by scripts/package-smoke.sh inside a virtual environment that holds only the wheel, its
declared dependencies and uvicorn; it imports nothing from this repository. A stdlib HTTP server
stands in for the collector (``POST /v1/traces`` and ``/v1/logs``, OTLP/HTTP protobuf, decoded
with ``opentelemetry-proto``, which the OTLP/HTTP exporter depends on). Exits non-zero on any
mismatch.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECEIVED: dict[str, list[bytes]] = {"/v1/traces": [], "/v1/logs": []}


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path not in RECEIVED:
            self.send_error(404)
            return
        RECEIVED[self.path].append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def fail(message: str) -> None:
    print(f"package smoke FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.server_port}"
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    os.environ.pop("OTEL_SDK_DISABLED", None)

    import loan_desk_telemetry

    origin = Path(loan_desk_telemetry.__file__).resolve()
    if "site-packages" not in origin.parts:
        fail(f"loan_desk_telemetry imported from {origin}, not from the installed wheel")
    if problems := loan_desk_telemetry.environment_problems():
        fail(f"environment problems: {problems}")

    import uvicorn
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    loan_desk_telemetry.configure_logging(service_name="smoke", level="INFO")
    telemetry = loan_desk_telemetry.setup_telemetry(service_name="smoke", service_version="0.0.1")
    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    loan_desk_telemetry.instrument_app(
        app, service_name="smoke", service_version="0.0.1", registry=CollectorRegistry()
    )
    # The extras are not installed here: their calls must say which extra to install.
    try:
        loan_desk_telemetry.instrument_sqlalchemy(object())
    except ModuleNotFoundError as exc:
        if "loan-desk-telemetry[sqlalchemy]" not in str(exc):
            fail(f"missing-extra message does not name the extra: {exc}")
    else:
        fail("instrument_sqlalchemy worked without the sqlalchemy extra")

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            fail("uvicorn did not start")
        time.sleep(0.05)

    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/hello/smoke", timeout=10) as response:
        if response.status != 200 or response.read() != b'{"hello":"smoke"}':
            fail(f"GET /hello/smoke answered {response.status}")
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    wanted = (
        'http_request_duration_seconds_count{app_name="smoke",method="GET",'
        'route="/hello/{name}",status_code="200"} 1.0'
    )
    if wanted not in metrics.splitlines():
        fail(f"/metrics lacks {wanted!r}:\n{metrics}")

    server.should_exit = True
    thread.join(timeout=10)
    if not telemetry.shutdown():
        fail("telemetry.shutdown() did not flush within its bound")
    receiver.shutdown()

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = []
    for body in RECEIVED["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            if attributes.get("service.name") != "smoke":
                fail(f"resource without service.name=smoke: {attributes}")
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    names = sorted(span.name for span in spans)
    # One server span for the request; /metrics is excluded from tracing.
    if names != ["GET /hello/{name}"]:
        fail(f"exported spans {names}, expected exactly ['GET /hello/{{name}}']")
    if not RECEIVED["/v1/logs"]:
        fail("no OTLP log export arrived (the access line of the request)")
    print(
        f"exported 1 span in {len(RECEIVED['/v1/traces'])} trace export(s), "
        f"{len(RECEIVED['/v1/logs'])} log export(s); /metrics scraped"
    )


if __name__ == "__main__":
    main()

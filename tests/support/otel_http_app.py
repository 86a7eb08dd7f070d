"""A FastAPI service instrumented the way another team's would be: the OpenTelemetry contrib
FastAPI instrumentation's HTTP metrics, exported by opentelemetry-exporter-prometheus, and none of
this project's observability code. tests/telemetry/test_red_sources.py runs it in its own process
(the semantic-convention opt-in is read once per process) and scrapes it with Debian's Prometheus
and the project's recording rules.

    python -m tests.support.otel_http_app --port 8080 --metrics-port 9464

OTEL_SEMCONV_STABILITY_OPT_IN=http makes the instrumentation emit the stable
http.server.request.duration (seconds) instead of the old http.server.duration (milliseconds);
the caller sets it. Routes: GET /items/{item_id} (200), POST /items (201), GET /fail (500),
GET /slow (200 after 1.2 s, past the 0.5 s latency objective); anything else is a 404 without a
route.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from fastapi import FastAPI, Response
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, start_http_server

SERVICE_NAME = "shop"
SERVICE_VERSION = "1.4.2"
# Inside the instrumentation's (1, 2.5] bucket with 1.3 s to spare: the quantiles the test
# expects are that bucket's, whatever a loaded machine adds to the sleep.
SLOW_SECONDS = 1.2


def build_app(registry: CollectorRegistry) -> FastAPI:
    reader = PrometheusMetricReader(registry=registry)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create(
            {"service.name": SERVICE_NAME, "service.version": SERVICE_VERSION}
        ),
    )
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.post("/items", status_code=201)
    async def create_item() -> dict[str, str]:
        return {"status": "created"}

    @app.get("/fail")
    async def fail() -> Response:
        return Response(status_code=500)

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(SLOW_SECONDS)
        return {"status": "slow"}

    FastAPIInstrumentor.instrument_app(app, meter_provider=provider)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    args = parser.parse_args()
    registry = CollectorRegistry()
    start_http_server(args.metrics_port, addr=args.host, registry=registry)
    uvicorn.run(build_app(registry), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

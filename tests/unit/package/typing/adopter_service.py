"""A service that adopts loan_desk_telemetry as its README shows, checked by ``mypy --strict``.

test_adopter_typing.py (beside it) type-checks this module and runs it as a script: it builds
the app on the package's in-memory pipeline, serves one request and prints what the telemetry
saw. ``assert_type`` pins the types the public API returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, assert_type

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient
from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import loan_desk_telemetry
from loan_desk_telemetry import Telemetry
from loan_desk_telemetry.testing import Capture, capture_telemetry, reset_global_state

SERVICE = "adopter"
VERSION = "1.0.0"


@dataclass(frozen=True)
class LogSettings:
    """A service's own settings name the package's option types."""

    level: loan_desk_telemetry.LogLevel = "INFO"
    fmt: loan_desk_telemetry.LogFormat = "json"


def check_environment() -> list[str]:
    """What a command line prints before refusing to start: one line per wrong variable."""
    problems = loan_desk_telemetry.environment_problems({"OTEL_TRACES_EXPORTER": "bogus"})
    assert_type(problems, list[tuple[str, str]])
    return [f"{name}: {reason}" for name, reason in problems]


def create_app(
    *,
    telemetry: Telemetry,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    registry: CollectorRegistry,
) -> FastAPI:
    loan_desk_telemetry.instrument_sqlalchemy(engine, tracer_provider=telemetry.tracer_provider)
    telemetry.instrument_httpx(client)
    orders = Counter("orders", "Orders taken.", registry=registry)
    tracer = trace.get_tracer(__name__, tracer_provider=telemetry.tracer_provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()
        await engine.dispose()
        finished = telemetry.shutdown(timeout_seconds=2.0)
        assert_type(finished, bool)

    app = FastAPI(lifespan=lifespan)
    loan_desk_telemetry.instrument_app(
        app,
        service_name=SERVICE,
        service_version=VERSION,
        registry=registry,
        tracer_provider=telemetry.tracer_provider,
    )

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int, request: Request) -> dict[str, Any]:
        with tracer.start_as_current_span("orders.get") as span:
            try:
                async with engine.connect() as connection:
                    result = await connection.execute(text("SELECT :id"), {"id": order_id})
                    value = result.scalar()
            except Exception as exc:
                loan_desk_telemetry.record_exception(span, exc)
                loan_desk_telemetry.mark_logged(exc)
                raise
        orders.inc()
        route = loan_desk_telemetry.route_of(request.scope, app.routes)
        assert_type(route, str)
        assert_type(loan_desk_telemetry.match_route(app.routes, request.scope), str | None)
        applicant = loan_desk_telemetry.redact({"order": value, "email": "ann@example.com"})
        assert_type(applicant, dict[str, Any])
        return {"route": route, "applicant": applicant}

    return app


def wired_by_hand(registry: CollectorRegistry) -> FastAPI:
    """HTTP metrics without ``instrument_app``: the middleware on its registry, served by hand."""
    app = FastAPI()
    app.add_middleware(
        loan_desk_telemetry.PrometheusMiddleware,
        app_name=SERVICE,
        app_version=VERSION,
        registry=registry,
        excluded_paths=loan_desk_telemetry.DEFAULT_EXCLUDED_PATHS,
        access_log=False,
    )

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    return app


def production_wiring(database_url: str) -> FastAPI:
    """The README's wiring with global providers (never run here: it sets process globals)."""
    settings = LogSettings()
    loan_desk_telemetry.configure_logging(
        service_name=SERVICE, level=settings.level, fmt=settings.fmt
    )
    telemetry = loan_desk_telemetry.setup_telemetry(service_name=SERVICE, service_version=VERSION)
    assert_type(telemetry, Telemetry)
    assert_type(telemetry.tracer_provider, trace.TracerProvider)
    assert_type(telemetry.logger_provider, _logs.LoggerProvider)
    client = httpx.AsyncClient()
    loan_desk_telemetry.instrument_httpx_client(client)
    return create_app(
        telemetry=telemetry,
        engine=create_async_engine(database_url),
        client=client,
        registry=CollectorRegistry(),
    )


def main() -> int:
    reset_global_state()
    capture = capture_telemetry(service_name=SERVICE, version=VERSION)
    assert_type(capture, Capture)
    loan_desk_telemetry.configure_logging(service_name=SERVICE, level="INFO", fmt="json")
    app = create_app(
        telemetry=capture.telemetry,
        engine=create_async_engine("sqlite+aiosqlite:///:memory:"),
        client=httpx.AsyncClient(),
        registry=capture.registry,
    )
    with TestClient(app) as http:
        answer = http.get("/orders/7").json()
    with TestClient(wired_by_hand(CollectorRegistry())) as http:
        http.get("/ping")
        scraped = http.get("/metrics").text
    labels = 'app_name="adopter",method="GET",route="/ping",status_code="200"'
    assert f"http_request_duration_seconds_count{{{labels}}} 1.0" in scraped.splitlines()
    spans: list[ReadableSpan] = capture.spans()
    records: list[ReadableLogRecord] = capture.log_records()
    print(check_environment())
    print(answer["route"], answer["applicant"])
    print(sorted({span.name for span in spans}))
    print(sorted({str(record.log_record.body) for record in records}))
    print(loan_desk_telemetry.__version__)
    print(assert_type(loan_desk_telemetry.loggers.logger_tree(), list[str])[0])
    reset_global_state()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""OTEL_PYTHON_DISABLED_INSTRUMENTATIONS: the named tracing instrumentations are not installed.

The variable is opentelemetry-instrument's (opentelemetry-python-contrib 0.66b2,
opentelemetry-instrumentation/src/opentelemetry/instrumentation/environment_variables.py; read in
auto_instrumentation/_load.py: comma-separated entry-point names, spaces allowed, ``*`` for all).
The names are the entry points of the contrib packages, checked here against the installed
distributions so a renamed entry point fails this test.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text

from loan_desk_telemetry import instrument_app, instrument_httpx_client, instrument_sqlalchemy
from loan_desk_telemetry._resource import instrumentation_disabled
from tests.support.tools import environment_without, run_python


def test_the_names_are_the_contrib_entry_points() -> None:
    names = {ep.name for ep in entry_points(group="opentelemetry_instrumentor")}
    assert {"fastapi", "sqlalchemy", "httpx"} <= names


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        ("", set()),
        ("fastapi", {"fastapi"}),
        ("fastapi, sqlalchemy", {"fastapi", "sqlalchemy"}),
        ("fastapi,sqlalchemy,httpx", {"fastapi", "sqlalchemy", "httpx"}),
        ("*", {"fastapi", "sqlalchemy", "httpx"}),
        ("requests,flask", set()),
        ("fast", set()),
    ],
)
def test_parsing(monkeypatch: pytest.MonkeyPatch, value: str, disabled: set[str]) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", value)
    assert {n for n in ("fastapi", "sqlalchemy", "httpx") if instrumentation_disabled(n)} == (
        disabled
    )


def _app(provider: TracerProvider, registry: CollectorRegistry) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    instrument_app(
        app, service_name="svc", service_version="1", registry=registry, tracer_provider=provider
    )
    return app


@pytest.mark.parametrize("disabled", ["fastapi", "*"])
async def test_no_server_span_but_metrics_stay(
    monkeypatch: pytest.MonkeyPatch, disabled: str
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", disabled)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    app = _app(provider, registry)
    assert getattr(app, "_is_instrumented_by_opentelemetry", False) is False
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.get("/items/1")).status_code == 200
    assert exporter.get_finished_spans() == ()
    count = registry.get_sample_value(
        "http_request_duration_seconds_count",
        {"method": "GET", "route": "/items/{item_id}", "status_code": "200", "app_name": "svc"},
    )
    assert count == 1.0


async def test_other_names_keep_the_server_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "sqlalchemy,httpx")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = _app(provider, CollectorRegistry())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.get("/items/1")).status_code == 200
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /items/{item_id}"]


@pytest.mark.parametrize(("value", "spans"), [("sqlalchemy", 0), ("fastapi,httpx", 1)])
def test_statement_spans(monkeypatch: pytest.MonkeyPatch, value: str, spans: int) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", value)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = create_engine("sqlite://")
    instrument_sqlalchemy(engine, tracer_provider=provider)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert len([s for s in exporter.get_finished_spans() if s.name.startswith("SELECT")]) == spans


@pytest.mark.parametrize(("value", "instrumented"), [("httpx", False), ("fastapi", True)])
def test_httpx_client(monkeypatch: pytest.MonkeyPatch, value: str, instrumented: bool) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", value)
    client = httpx.Client()
    try:
        instrument_httpx_client(client, tracer_provider=TracerProvider())
        assert getattr(client, "_is_instrumented_by_opentelemetry", False) is instrumented
    finally:
        client.close()


@pytest.mark.parametrize(("value", "instrumented"), [("httpx", "False"), ("sqlalchemy", "True")])
def test_global_httpx_instrumentation(value: str, instrumented: str) -> None:
    # setup_telemetry() without providers patches httpx for the whole process: in a fresh
    # interpreter, as a service runs it.

    script = (
        "import loan_desk_telemetry\n"
        "from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor\n"
        "t = loan_desk_telemetry.setup_telemetry(service_name='svc', service_version='1')\n"
        "print(HTTPXClientInstrumentor().is_instrumented_by_opentelemetry)\n"
        "t.shutdown()\n"
    )
    env = environment_without(
        "OTEL_",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=value,
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    assert run_python(script, env=env).strip().splitlines()[-1] == instrumented

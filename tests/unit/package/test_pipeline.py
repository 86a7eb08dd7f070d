"""The observability package end to end, in-process: one request through an api and a tagger.

In-memory span and log exporters, a fresh registry per app, the tagger reached over httpx with an
ASGI transport (run in an empty OTel context, as if it were another process: only the
``traceparent`` header carries the trace across).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, HTTPException
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Receive, Scope, Send

import loan_desk_telemetry
from loan_desk_telemetry.testing import Capture, capture_telemetry
from tests.support.tools import require_executable

HEX = set("0123456789abcdef")


def isolated(app: ASGIApp) -> ASGIApp:
    """Run ``app`` in an empty OTel context: an in-process stand-in for a process boundary."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        token = otel_context.attach(otel_context.Context())
        try:
            await app(scope, receive, send)
        finally:
            otel_context.detach(token)

    return wrapper


@dataclass
class Stack:
    capture: Capture
    api_registry: CollectorRegistry
    tagger_registry: CollectorRegistry
    logs: io.StringIO
    client: httpx.AsyncClient

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line]


def build_apps(capture: Capture) -> tuple[FastAPI, FastAPI, CollectorRegistry, CollectorRegistry]:
    tagger = FastAPI()

    @tagger.post("/api/v1/tags")
    async def tag(kind: str = "id") -> dict[str, Any]:
        structlog.get_logger("doc_tagger").info("tagged", kind=kind)
        return {"tags": ["passport"]}

    tagger_registry = CollectorRegistry()
    loan_desk_telemetry.instrument_app(
        tagger,
        service_name="doc-tagger",
        service_version="2.0.0",
        registry=tagger_registry,
        tracer_provider=capture.tracer_provider,
    )

    tagger_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=isolated(tagger)), base_url="http://tagger"
    )
    capture.telemetry.instrument_httpx(tagger_client)
    tracer = trace.get_tracer("test.api", tracer_provider=capture.tracer_provider)

    api = FastAPI()

    @api.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, Any]:
        log = structlog.get_logger("loan_api.items")
        log.info("reading item", item_id=item_id, email="jane@example.com")
        logging.getLogger("some.library").warning("library says %s", "hi", extra={"iban": "X"})
        with tracer.start_as_current_span("items.tag_document") as span:
            span.set_attribute("document.kind", "id")
            span.set_attribute("applicant.date_of_birth", "1990-01-01")
            response = await tagger_client.post("/api/v1/tags", params={"kind": "id"})
        return {"item_id": item_id, "tags": response.json()["tags"]}

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    @api.get("/missing")
    async def missing() -> None:
        raise HTTPException(status_code=404)

    @api.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    api_registry = CollectorRegistry()
    loan_desk_telemetry.instrument_app(
        api,
        service_name="loan-api",
        service_version="1.0.0",
        registry=api_registry,
        tracer_provider=capture.tracer_provider,
    )
    return api, tagger, api_registry, tagger_registry


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    logs = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="loan-api", fmt="json", stream=logs)
    capture = capture_telemetry(service_name="loan-api", version="1.0.0")
    api, _tagger, api_registry, tagger_registry = build_apps(capture)
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Stack(capture, api_registry, tagger_registry, logs, client)
    capture.telemetry.shutdown()


def series(
    registry: CollectorRegistry, sample_name: str
) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == sample_name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def exemplar_of(registry: CollectorRegistry, route: str) -> dict[str, str]:
    for metric in registry.collect():
        for sample in metric.samples:
            if (
                sample.name == "http_request_duration_seconds_bucket"
                and sample.labels["route"] == route
                and sample.exemplar is not None
            ):
                return dict(sample.exemplar.labels)
    raise AssertionError(f"no exemplar for {route}")


async def test_one_request_one_trace_across_both_services(stack: Stack) -> None:
    response = await stack.client.get("/items/7", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200

    spans = stack.capture.spans()
    by_name = {s.name: s for s in spans}
    assert sorted(by_name) == sorted(
        ["GET /items/{item_id}", "items.tag_document", "POST", "POST /api/v1/tags"]
    )
    assert len(spans) == 4
    server_spans = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in server_spans].count("GET /items/{item_id}") == 1
    assert len(server_spans) == 2  # one per service
    assert {s.context.trace_id for s in spans} == {by_name["GET /items/{item_id}"].context.trace_id}

    api_span = by_name["GET /items/{item_id}"]
    custom = by_name["items.tag_document"]
    client_span = by_name["POST"]
    tagger_span = by_name["POST /api/v1/tags"]
    assert custom.parent.span_id == api_span.context.span_id
    assert client_span.kind is SpanKind.CLIENT
    assert client_span.parent.span_id == custom.context.span_id
    assert tagger_span.kind is SpanKind.SERVER
    assert tagger_span.parent.span_id == client_span.context.span_id
    # Stable HTTP semantic conventions, route template, no raw path in the name.
    assert api_span.attributes["http.route"] == "/items/{item_id}"
    assert api_span.attributes["http.request.method"] == "GET"
    assert api_span.attributes["http.response.status_code"] == 200
    assert "http.method" not in api_span.attributes
    # No request headers captured, sensitive custom attributes redacted on export.
    assert not [k for k in api_span.attributes if k.startswith("http.request.header")]
    assert custom.attributes["applicant.date_of_birth"] == "[REDACTED]"
    assert custom.attributes["document.kind"] == "id"


async def test_no_per_message_asgi_spans(stack: Stack) -> None:
    await stack.client.get("/items/1")
    names = [s.name for s in stack.capture.spans()]
    assert not [n for n in names if "http send" in n or "http receive" in n]
    assert len(names) == 4


async def test_log_lines_carry_the_request_span_ids_and_service(stack: Stack) -> None:
    await stack.client.get("/items/7")
    api_span = next(s for s in stack.capture.spans() if s.name == "GET /items/{item_id}")
    trace_id = format(api_span.context.trace_id, "032x")
    span_id = format(api_span.context.span_id, "016x")

    lines = stack.lines()
    api_lines = [line for line in lines if line["logger"] in {"loan_api.items", "some.library"}] + [
        line for line in lines if line["event"] == "request" and line["route"] == "/items/{item_id}"
    ]
    assert len(api_lines) == 3
    for line in api_lines:
        assert line["trace_id"] == trace_id
        assert len(line["trace_id"]) == 32
        assert set(line["trace_id"]) <= HEX
        assert len(line["span_id"]) == 16
        assert set(line["span_id"]) <= HEX
        assert line["service"] == "loan-api"
    reading = next(line for line in lines if line["event"] == "reading item")
    assert reading["span_id"] == span_id
    assert reading["email"] == "[REDACTED]"
    library = next(line for line in lines if line["logger"] == "some.library")
    assert library["event"] == "library says hi"
    assert library["iban"] == "[REDACTED]"
    assert library["level"] == "warning"
    # The tagger's line belongs to the same trace, under the tagger's server span.
    tagged = next(line for line in lines if line["event"] == "tagged")
    assert tagged["trace_id"] == trace_id


async def test_one_canonical_access_line_per_request(stack: Stack) -> None:
    # The secret holds letters outside hex, so no trace or span id can contain it by chance
    # (a hex secret did: CI saw "abc" inside a random span id).
    await stack.client.get("/items/7?token=query-secret-xyz")
    access = [line for line in stack.lines() if line["logger"] == "loan_desk_telemetry.access"]
    assert len(access) == 2  # api and tagger
    api_line = next(line for line in access if line["route"] == "/items/{item_id}")
    assert api_line["method"] == "GET"
    assert api_line["path"] == "/items/7"
    assert api_line["status_code"] == 200
    assert api_line["duration_ms"] > 0
    assert api_line["client"] == "127.0.0.1"
    assert "query-secret-xyz" not in stack.logs.getvalue()
    assert "token" not in stack.logs.getvalue()


async def test_otlp_log_records_carry_trace_context_and_redacted_fields(stack: Stack) -> None:
    await stack.client.get("/items/7")
    api_span = next(s for s in stack.capture.spans() if s.name == "GET /items/{item_id}")
    records = [r.log_record for r in stack.capture.log_records()]
    reading = [r for r in records if r.body == "reading item"]
    assert len(reading) == 1  # no duplicate
    record = reading[0]
    assert record.trace_id == api_span.context.trace_id
    assert record.span_id == api_span.context.span_id
    assert record.severity_text == "INFO"
    assert dict(record.attributes) == {"item_id": 7, "email": "[REDACTED]"}
    library = [r for r in records if r.body == "library says hi"]
    assert len(library) == 1
    assert library[0].trace_id == api_span.context.trace_id
    assert library[0].attributes["iban"] == "[REDACTED]"
    assert library[0].severity_text == "WARN"
    resource = stack.capture.logger_provider.resource.attributes
    assert resource["service.name"] == "loan-api"
    assert len(records) == 5  # reading, library, tagged, two access lines


async def test_histogram_has_route_template_and_exemplar_of_server_span(stack: Stack) -> None:
    await stack.client.get("/items/7")
    api_span = next(s for s in stack.capture.spans() if s.name == "GET /items/{item_id}")
    counts = series(stack.api_registry, "http_request_duration_seconds_count")
    assert counts == {
        (
            ("app_name", "loan-api"),
            ("method", "GET"),
            ("route", "/items/{item_id}"),
            ("status_code", "200"),
        ): 1.0
    }
    exemplar = exemplar_of(stack.api_registry, "/items/{item_id}")
    assert exemplar == {
        "trace_id": format(api_span.context.trace_id, "032x"),
        "span_id": format(api_span.context.span_id, "016x"),
    }
    tagger_counts = series(stack.tagger_registry, "http_request_duration_seconds_count")
    assert list(tagger_counts.values()) == [1.0]
    assert dict(next(iter(tagger_counts)))["app_name"] == "doc-tagger"
    info = series(stack.api_registry, "app_info")
    assert info == {(("app_name", "loan-api"), ("version", "1.0.0")): 1.0}
    in_progress = series(stack.api_registry, "http_requests_in_progress")
    assert in_progress == {
        (("app_name", "loan-api"), ("method", "GET"), ("route", "/items/{item_id}")): 0.0
    }


async def test_unknown_paths_add_one_series_only(stack: Stack) -> None:
    await stack.client.get("/no/such/path")
    before = series(stack.api_registry, "http_request_duration_seconds_count")
    assert before == {
        (
            ("app_name", "loan-api"),
            ("method", "GET"),
            ("route", "unmatched"),
            ("status_code", "404"),
        ): 1.0
    }
    for i in range(50):
        response = await stack.client.get(f"/random-{i}/x{i}")
        assert response.status_code == 404
    after = series(stack.api_registry, "http_request_duration_seconds_count")
    assert set(after) == set(before)
    assert next(iter(after.values())) == 51.0
    exposition = (await stack.client.get("/metrics")).text
    assert "random-" not in exposition


async def test_odd_methods_are_bounded(stack: Stack) -> None:
    response = await stack.client.request("BREW", "/items/1")
    assert response.status_code == 405
    labels = {
        dict(k)["method"] for k in series(stack.api_registry, "http_request_duration_seconds_count")
    }
    assert labels == {"other"}


async def test_metrics_and_health_are_neither_traced_nor_counted(stack: Stack) -> None:
    assert (await stack.client.get("/health/live")).status_code == 200
    assert (await stack.client.get("/metrics")).status_code == 200
    assert stack.capture.spans() == []
    assert series(stack.api_registry, "http_request_duration_seconds_count") == {}
    assert [
        line for line in stack.lines() if line.get("logger") == "loan_desk_telemetry.access"
    ] == []


async def test_unhandled_exception_is_counted_traced_and_logged_once(stack: Stack) -> None:
    response = await stack.client.get("/boom")
    assert response.status_code == 500
    exceptions = series(stack.api_registry, "http_request_exceptions_total")
    assert exceptions == {
        (
            ("app_name", "loan-api"),
            ("exception_type", "RuntimeError"),
            ("method", "GET"),
            ("route", "/boom"),
        ): 1.0
    }
    counts = series(stack.api_registry, "http_request_duration_seconds_count")
    assert dict(next(iter(counts)))["status_code"] == "500"
    (span,) = stack.capture.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    errors = [line for line in stack.lines() if line["level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["trace_id"] == format(span.context.trace_id, "032x")
    assert "RuntimeError: kaput" in errors[0]["exception"]
    # A server reporting the same exception afterwards (uvicorn does) is not a second line.
    try:
        raise_marked()
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    assert len([line for line in stack.lines() if line["level"] == "error"]) == 1


def raise_marked() -> None:
    exc = RuntimeError("again")
    loan_desk_telemetry._metrics.mark_logged(exc)
    raise exc


async def test_handled_http_errors_are_not_exceptions(stack: Stack) -> None:
    assert (await stack.client.get("/missing")).status_code == 404
    assert series(stack.api_registry, "http_request_exceptions_total") == {}
    counts = series(stack.api_registry, "http_request_duration_seconds_count")
    assert dict(next(iter(counts)))["route"] == "/missing"


async def test_openmetrics_when_asked_classic_text_otherwise(stack: Stack) -> None:
    await stack.client.get("/items/7")
    om = await stack.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    assert ' # {span_id="' in om.text
    text = await stack.client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    assert "# EOF" not in text.text
    assert " # {" not in text.text
    names = {m.name for m in text_string_to_metric_families(text.text)}
    assert {
        "http_request_duration_seconds",
        "http_requests_in_progress",
        "http_request_exceptions",
        "app_info",  # the classic text format has no info type: a gauge named app_info
    } <= names


async def test_promtool_finds_nothing_to_complain_about(stack: Stack) -> None:
    promtool = require_executable("promtool")
    await stack.client.get("/items/7")
    await stack.client.get("/boom")
    text = (await stack.client.get("/metrics")).text
    result = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert result.stderr.strip() == ""

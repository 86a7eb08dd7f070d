"""The real services in-process with in-memory exporters: one submit-document request yields one
trace across both services, logs that carry it, and a histogram exemplar that points at it.

The app's custom spans use ``trace.get_tracer(__name__)`` (the global provider, as in production),
so this module sets the api's in-memory provider as the global one, once per process. The
tagger's custom span therefore reports the api's resource here; server, client and database
spans come from each service's own provider.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from loan_api.migrate import upgrade
from loan_desk_telemetry import configure_logging
from loan_desk_telemetry.testing import Capture
from tests.support.flows import create_application, upload
from tests.support.in_process import Api, api_client, shared_captures


@dataclass
class Traced:
    api: Api
    api_capture: Capture
    tagger_capture: Capture
    registry: CollectorRegistry
    stdout: io.StringIO

    def stdout_lines(self) -> list[dict[str, Any]]:
        lines = self.stdout.getvalue().splitlines()
        self.stdout.seek(0)
        self.stdout.truncate()
        return [json.loads(line) for line in lines]

    def spans(self) -> list[ReadableSpan]:
        return self.api_capture.spans() + self.tagger_capture.spans()


pytestmark = pytest.mark.usefixtures("clean_telemetry_state")


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[Traced]:
    url = f"sqlite+aiosqlite:///{tmp_path}/traces.db"
    await asyncio.to_thread(upgrade, url)
    api_capture, tagger_capture = shared_captures()
    api_capture.clear()
    tagger_capture.clear()
    registry = CollectorRegistry()
    async with api_client(
        url,
        telemetry=api_capture.telemetry,
        tagger_telemetry=tagger_capture.telemetry,
        registry=registry,
    ) as api:
        # The apps log to sys.stdout; send the same pipeline's lines to a buffer we can read.
        # (In one process the pipeline's service name is the last one configured; each service
        # is its own process in production, and the over-the-wire tests check the name there.)
        stdout = io.StringIO()
        configure_logging(service_name="loan-api", fmt="json", stream=stdout)
        yield Traced(api, api_capture, tagger_capture, registry, stdout)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _is_db(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return "db.system" in attributes or "db.system.name" in attributes


def _one(spans: list[ReadableSpan], **where: Any) -> ReadableSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in where.items())]
    assert len(found) == 1, f"expected one span with {where}, got {[s.name for s in found]}"
    return found[0]


async def test_submit_document_is_one_trace_across_both_services(traced: Traced) -> None:
    applicant = await create_application(traced.api.client)
    traced.api_capture.clear()
    traced.tagger_capture.clear()
    traced.stdout_lines()

    response = await upload(traced.api.client, applicant)
    assert response.status_code == 201, response.text

    spans = traced.spans()
    trace_ids = {s.context.trace_id for s in spans}
    assert len(trace_ids) == 1, [s.name for s in spans]
    (trace_id,) = trace_ids

    server = _one(
        spans, kind=SpanKind.SERVER, name="POST /api/v1/applications/{application_id}/documents"
    )
    assert server.parent is None
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/applications/{application_id}/documents"
    assert server.attributes["http.response.status_code"] == 201
    assert server.resource.attributes["service.name"] == "loan-api"
    assert not [s for s in spans if s.name.endswith((" http send", " http receive"))]
    assert len([s for s in spans if s.kind is SpanKind.SERVER]) == 2  # one per service

    upload_span = _one(spans, name="documents.upload")
    assert upload_span.parent is not None
    assert upload_span.parent.span_id == server.context.span_id
    assert upload_span.attributes is not None
    assert upload_span.attributes["document.kind"] == "id"
    tag_span = _one(spans, name="documents.tag")
    assert tag_span.parent is not None
    assert tag_span.parent.span_id == upload_span.context.span_id
    assert tag_span.attributes is not None
    assert tag_span.attributes["tagging.outcome"] == "tagged"

    # Database spans: the token lookup under the server span, the insert under the upload span.
    db_spans = [s for s in spans if s.kind is SpanKind.CLIENT and _is_db(s)]
    assert len(db_spans) == 4, [s.name for s in db_spans]  # token lookup, insert, update, read
    assert {s.resource.attributes["service.name"] for s in db_spans} == {"loan-api"}
    parents = {s.parent.span_id for s in db_spans if s.parent is not None}
    assert server.context.span_id in parents
    assert upload_span.context.span_id in parents

    [client] = [
        s for s in _children(spans, tag_span) if s.kind is SpanKind.CLIENT and not _is_db(s)
    ]
    assert client.attributes is not None
    assert client.attributes["http.request.method"] == "POST"
    tagger_server = _one(spans, kind=SpanKind.SERVER, name="POST /api/v1/tags")
    assert tagger_server.parent is not None
    assert tagger_server.parent.span_id == client.context.span_id
    assert tagger_server.resource.attributes["service.name"] == "doc-tagger"
    tagger_custom = _one(spans, name="tagger.tag_document")
    assert tagger_custom.parent is not None
    assert tagger_custom.parent.span_id == tagger_server.context.span_id

    # Logs: every OTLP record and every stdout line written for this request carries the trace.
    records = traced.api_capture.log_records() + traced.tagger_capture.log_records()
    bodies = sorted(str(r.log_record.body) for r in records)
    # Two access lines (api, tagger), the upload and its tagging in the api, the tagger's verdict.
    assert bodies == ["document.tagged", "document.uploaded", "request", "request", "tagging.done"]
    assert {r.log_record.trace_id for r in records} == {trace_id}
    # stdout carries the same lines, no more and no fewer, with the same ids.
    lines = traced.stdout_lines()
    assert sorted(line["event"] for line in lines) == bodies
    assert {line["trace_id"] for line in lines} == {format(trace_id, "032x")}
    span_ids = {format(s.context.span_id, "016x") for s in spans}
    assert {line["span_id"] for line in lines} <= span_ids

    # Metrics: the route template, and an exemplar pointing at this very trace.
    labels = {
        "method": "POST",
        "route": "/api/v1/applications/{application_id}/documents",
        "status_code": "201",
        "app_name": "loan-api",
    }
    assert traced.registry.get_sample_value("http_request_duration_seconds_count", labels) == 1
    exemplars = [
        sample.exemplar
        for family in traced.registry.collect()
        if family.name == "http_request_duration_seconds"
        for sample in family.samples
        if sample.exemplar is not None and sample.labels.get("route") == labels["route"]
    ]
    assert [e.labels["trace_id"] for e in exemplars] == [format(trace_id, "032x")]


async def test_tagger_failure_marks_the_spans_and_the_trace_explains_it(traced: Traced) -> None:
    applicant = await create_application(traced.api.client)
    traced.api_capture.clear()
    response = await upload(traced.api.client, applicant, content=b"%PDF-1.4 /Encrypt x")
    assert response.status_code == 422
    spans = traced.spans()
    tag_span = _one(spans, name="documents.tag")
    assert tag_span.status.status_code.name == "ERROR"
    assert tag_span.attributes is not None
    assert tag_span.attributes["tagging.failure_reason"] == "rejected"
    assert any(event.name == "exception" for event in tag_span.events)


async def test_unknown_paths_add_no_label_values(traced: Traced) -> None:
    def series() -> set[tuple[tuple[str, str], ...]]:
        return {
            tuple(sorted(sample.labels.items()))
            for family in traced.registry.collect()
            if family.name == "http_request_duration_seconds"
            for sample in family.samples
        }

    await traced.api.client.get("/no/such/path/0")
    before = series()
    for n in range(1, 51):
        response = await traced.api.client.get(f"/no/such/path/{n}")
        assert response.status_code == 404
    assert series() == before
    count = traced.registry.get_sample_value(
        "http_request_duration_seconds_count",
        {"method": "GET", "route": "unmatched", "status_code": "404", "app_name": "loan-api"},
    )
    assert count == 51


async def test_sensitive_values_never_reach_spans_or_log_records(traced: Traced) -> None:
    applicant = await create_application(traced.api.client)
    await traced.api.client.put(
        f"{applicant.path}/personal-details",
        json={"date_of_birth": "1988-08-23", "place_of_birth": "Berlin", "nationality": "DE"},
        headers=applicant.headers,
    )
    spans = traced.spans()
    records = traced.api_capture.log_records()
    haystack = json.dumps(
        [dict(s.attributes or {}) for s in spans]
        + [[dict(e.attributes or {}) for e in s.events] for s in spans]
        + [[str(r.log_record.body), dict(r.log_record.attributes or {})] for r in records],
        default=str,
    )
    assert applicant.token not in haystack
    assert "1988-08-23" not in haystack
    assert "steve.schulze@example.com" not in haystack
    assert applicant.id in haystack  # the assertion above searches the right place


async def test_readiness_probe_leaves_no_spans(traced: Traced) -> None:
    traced.api_capture.clear()
    response = await traced.api.client.get("/health/ready")
    assert response.status_code == 200
    await traced.api.client.get("/metrics")
    assert traced.api_capture.spans() == []
    # The same capture sees a traced request, so the emptiness above means something.
    await traced.api.client.get("/api/v1/nothing")
    assert len([s for s in traced.api_capture.spans() if s.kind is SpanKind.SERVER]) == 1


async def test_reading_an_application_runs_five_statements(traced: Traced) -> None:
    # The trace is how a redundant query shows up: token lookup, application row, address count,
    # document counts, invite count. One more statement here means a query was added or repeated.
    applicant = await create_application(traced.api.client)
    traced.api_capture.clear()
    response = await traced.api.client.get(applicant.path, headers=applicant.headers)
    assert response.status_code == 200
    statements = [s.name.split()[0] for s in traced.spans() if _is_db(s)]
    assert statements == ["SELECT"] * 5

"""Trainer mode in real processes: `doc-tagger serve` and `loan-api serve` (uvicorn, global OTel
providers, OTLP/HTTP to a loopback receiver), switched with the `loan-api trainer` CLI and over
HTTP. The trace explains each dependency scenario, the canary reports its own version, and a
reset puts everything right."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.documents import pdf
from tests.support.expectations import LogRecord, SpanRecord
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.services import BIN, ROOT, Service, base_env, running_services
from tests.support.trainer import ADMIN, TOKEN

VERSION = "9.9.9-canary"
DEADLINE_SECONDS = 20.0


T = TypeVar("T")


def poll(fetch: Callable[[], list[T]], check: Callable[[list[T]], bool]) -> list[T]:
    """Fetch until ``check`` holds or the deadline passes (bounded); return the last fetch."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    items = fetch()
    while not check(items) and time.monotonic() < deadline:
        time.sleep(0.2)
        items = fetch()
    return items


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[OtlpReceiver, Service, Service]]:
    with (
        OtlpReceiver() as receiver,
        running_services(
            tmp_path_factory.mktemp("trainer-processes"),
            run_id=uuid.uuid4().hex,
            api_endpoint=receiver.http_endpoint,
            api_protocol="http/protobuf",
            tagger_endpoint=receiver.http_endpoint,
            tagger_protocol="http/protobuf",
            api_extra_env={"TAGGER_TIMEOUT_SECONDS": "1", "SERVICE_VERSION": VERSION},
            extra_env={"ADMIN_ENABLED": "true", "ADMIN_TOKEN": TOKEN},
        ) as services,
    ):
        yield receiver, services.api, services.tagger


def trainer_cli(service: Service, command: str, *args: str) -> dict[str, Any]:
    import json

    result = subprocess.run(
        [str(BIN / command), "trainer", "--url", service.url, *args],
        env=base_env() | {"ADMIN_TOKEN": TOKEN},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def new_applicant(client: httpx.Client) -> tuple[str, dict[str, str]]:
    response = client.post(
        "/api/v1/applications",
        json={
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "ada@example.com",
            "product": "credit",
            "amount": 5000,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return f"/api/v1/applications/{body['id']}", {"Authorization": f"Bearer {body['token']}"}


def upload(client: httpx.Client, path: str, auth: dict[str, str]) -> httpx.Response:
    return client.post(
        f"{path}/documents",
        headers=auth,
        files={"file": ("passport.pdf", pdf("Passport"), "application/pdf")},
        data={"kind": "id"},
    )


def metric(service: Service, name: str, **labels: str) -> float:
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def spans_of(receiver: OtlpReceiver, trace_id: str) -> list[SpanRecord]:
    return [s for s in receiver.spans() if s.trace_id == trace_id]


def test_admin_over_the_wire_needs_the_token(stack: tuple[OtlpReceiver, Service, Service]) -> None:
    _, api, tagger = stack
    for service in (api, tagger):
        assert httpx.get(f"{service.url}/admin/scenarios", timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer " + "0" * 48}
        assert (
            httpx.get(f"{service.url}/admin/scenarios", headers=wrong, timeout=10).status_code
            == 401
        )
        assert (
            httpx.get(f"{service.url}/admin/scenarios", headers=ADMIN, timeout=10).status_code
            == 200
        )
    for line in api.log_lines() + tagger.log_lines():
        assert TOKEN not in str(line)


def test_the_version_override_reaches_resource_and_app_info(
    stack: tuple[OtlpReceiver, Service, Service],
) -> None:
    receiver, api, _ = stack
    assert metric(api, "app_info", app_name="loan-api", version=VERSION) == 1
    with api.client() as client:
        new_applicant(client)
    spans = poll(
        lambda: [s for s in receiver.spans() if s.service == "loan-api" and s.kind == "SERVER"],
        bool,
    )
    assert spans
    assert {s.resource["service.version"] for s in spans} == {VERSION}


def test_unreachable_tagger_is_explained_by_the_trace(
    stack: tuple[OtlpReceiver, Service, Service],
) -> None:
    receiver, api, _ = stack
    before = metric(api, "loan_tagger_failures_total", reason="unavailable")
    answer = trainer_cli(api, "loan-api", "on", "tagger", "--mode", "unreachable")
    assert answer["effect"] == "tagger unreachable"
    with api.client() as client:
        path, auth = new_applicant(client)
        failed = upload(client, path, auth)
        assert failed.status_code == 502
        document_id = failed.json()["document_id"]
        trainer_cli(api, "loan-api", "off", "tagger")
        assert upload(client, path, auth).status_code == 201
    assert metric(api, "loan_tagger_failures_total", reason="unavailable") == before + 1

    def tag_spans() -> list[SpanRecord]:
        return [
            s
            for s in receiver.spans()
            if s.name == "documents.tag" and s.attributes.get("document.id") == document_id
        ]

    (span,) = poll(tag_spans, lambda found: len(found) == 1)
    assert span.attributes["scenario.name"] == "tagger"
    assert span.attributes["scenario.effect"] == "tagger unreachable"
    assert span.attributes["tagging.failure_reason"] == "unavailable"
    assert span.status_code == 2  # ERROR
    assert [name for name, _ in span.events].count("scenario.injected") == 1

    def scenario_logs() -> list[LogRecord]:
        return [
            r
            for r in receiver.logs()
            if r.body == "scenario.injected" and r.trace_id == span.trace_id
        ]

    (line,) = poll(scenario_logs, lambda found: len(found) == 1)
    assert line.attributes["scenario"] == "tagger"
    assert line.span_id == span.span_id


def test_slow_tagger_service_runs_into_the_apis_timeout(
    stack: tuple[OtlpReceiver, Service, Service],
) -> None:
    receiver, api, tagger = stack
    before = metric(api, "loan_tagger_failures_total", reason="timeout")
    trainer_cli(
        tagger, "doc-tagger", "on", "latency", "--route", "/api/v1/tags", "--delay-ms", "1500"
    )
    try:
        with api.client() as client:
            path, auth = new_applicant(client)
            response = upload(client, path, auth)
    finally:
        trainer_cli(tagger, "doc-tagger", "reset")
    assert response.status_code == 504
    assert metric(api, "loan_tagger_failures_total", reason="timeout") == before + 1
    document_id = response.json()["document_id"]

    (tag_span,) = poll(
        lambda: [
            s
            for s in receiver.spans()
            if s.name == "documents.tag" and s.attributes.get("document.id") == document_id
        ],
        lambda found: len(found) == 1,
    )
    assert tag_span.attributes["tagging.failure_reason"] == "timeout"
    # The tagger's own server span, in the same trace, says why it was slow.
    tagger_spans = poll(
        lambda: [
            s
            for s in spans_of(receiver, tag_span.trace_id)
            if s.service == "doc-tagger" and s.kind == "SERVER"
        ],
        lambda found: len(found) == 1,
    )
    (server,) = tagger_spans
    assert server.attributes["scenario.name"] == "latency"
    assert server.attributes["scenario.effect"] == "+1500 ms on /api/v1/tags"


def test_slow_db_in_the_real_service(stack: tuple[OtlpReceiver, Service, Service]) -> None:
    receiver, api, _ = stack
    trainer_cli(api, "loan-api", "on", "slow-db", "--delay-ms", "120")
    try:
        with api.client() as client:
            path, _ = new_applicant(client)
    finally:
        answer = trainer_cli(api, "loan-api", "reset")
    assert answer["switched_off"] == ["slow-db"]

    def slowed_spans() -> list[SpanRecord]:
        return [
            s
            for s in receiver.spans()
            if s.kind == "CLIENT" and s.attributes.get("scenario.name") == "slow-db"
        ]

    (trace_id,) = {s.trace_id for s in poll(slowed_spans, bool)}
    # The server span ends last, after the statements: once it is here (the batch processor
    # exports in the order spans end), the whole trace is. The statements alone may have come
    # in an earlier batch.
    trace = poll(
        lambda: spans_of(receiver, trace_id), lambda found: any(s.kind == "SERVER" for s in found)
    )
    slowed = slowed_spans()
    assert slowed
    assert {s.attributes["scenario.effect"] for s in slowed} == {"every SQL statement +120 ms"}
    assert {s.service for s in slowed} == {"loan-api"}
    # One request ran under the scenario: every SQL statement of its trace was slowed.
    assert {s.trace_id for s in slowed} == {trace_id}
    statements = [s for s in trace if s.kind == "CLIENT"]
    assert len(statements) == len(slowed)
    (server,) = [s for s in trace if s.kind == "SERVER"]
    assert server.attributes["http.route"] == "/api/v1/applications"
    assert path.startswith("/api/v1/applications/")

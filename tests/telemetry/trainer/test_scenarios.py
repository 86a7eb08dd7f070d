"""Trainer scenarios against the real api and tagger apps, in-process: each one, switched on
through the admin endpoint, shows in the metrics, the spans and the logs exactly as promised,
and switching it off restores normal behaviour (exact counts before, during and after)."""

from __future__ import annotations

import httpx
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from doc_tagger.config import TaggerSettings
from doc_tagger.main import create_app as create_tagger_app
from loan_desk_telemetry.testing import capture_telemetry
from tests.support.documents import pdf
from tests.support.flows import Applicant, application_body, create_application, upload
from tests.support.trainer import (
    ADMIN,
    TOKEN,
    TrainerApi,
    attributes_of,
    body_of,
    scenario_events,
    severity_of,
    trainer_api,
)

ONE = "/api/v1/applications/{application_id}"
CREATE = "/api/v1/applications"
DOCUMENTS = "/api/v1/applications/{application_id}/documents"


async def read(api: TrainerApi, applicant: Applicant, times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        response = await api.client.get(applicant.path, headers=applicant.headers)
        statuses.append(response.status_code)
    return statuses


# --- latency ----------------------------------------------------------------------------------


async def test_latency_moves_the_routes_observations_above_the_delay(api: TrainerApi) -> None:
    # Bucket bounds far from the durations (a loaded CI machine stretches a request's own work
    # many times): normal answers well under 1 s, delayed ones 1.3 s plus that work, under the
    # 2.5 s bound that a delay applied twice (2.6 s) would pass.
    applicant = await create_application(api.client)
    assert await read(api, applicant, 2) == [200, 200]
    assert (api.count(ONE), api.bucket(ONE, "1.0")) == (2, 2)

    answer = await api.switch_on("latency", route=ONE, delay_ms=1300)
    assert answer["effect"] == f"+1300 ms on {ONE}"
    assert await read(api, applicant, 2) == [200, 200]
    # Two more observations, both beyond 1 s: the histogram shifts into the higher buckets.
    assert api.count(ONE) == 4
    assert api.bucket(ONE, "1.0") == 2
    assert api.bucket(ONE, "2.5") == 4  # cumulative: both new ones within 2.5 s, no stray wait
    # Other routes are untouched.
    await create_application(api.client)
    assert api.count(CREATE) == api.bucket(CREATE, "1.0") == 2

    spans = api.server_spans(ONE)
    assert len(spans) == 4
    slowed = [s for s in spans if s.attributes.get("scenario.name") == "latency"]
    assert len(slowed) == 2
    for span in slowed:
        assert span.attributes["scenario.effect"] == f"+1300 ms on {ONE}"
        (event,) = scenario_events(span)
        assert event["scenario.name"] == "latency"
        assert event["delay_ms"] == 1300.0
        assert (span.end_time - span.start_time) / 1e9 >= 1.3
    for span in api.server_spans(CREATE):
        assert "scenario.name" not in span.attributes

    await api.switch_off("latency")
    assert await read(api, applicant, 2) == [200, 200]
    assert (api.count(ONE), api.bucket(ONE, "1.0")) == (6, 4)
    assert len([s for s in api.server_spans(ONE) if "scenario.name" in s.attributes]) == 2


async def test_random_latency_stays_within_delay_and_jitter(api: TrainerApi) -> None:
    applicant = await create_application(api.client)
    # 550..700 ms: above the 0.5 s bound; under the 1 s bound with 300 ms to spare for the
    # request's own work on a loaded machine, and a delay applied twice (1.1 s on) would pass it.
    await api.switch_on("latency", route=ONE, delay_ms=550, jitter_ms=150)
    assert await read(api, applicant, 4) == [200] * 4
    assert api.bucket(ONE, "0.5") == 0
    assert api.bucket(ONE, "1.0") == 4
    delays = [
        scenario_events(s)[0]["delay_ms"]
        for s in api.server_spans(ONE)
        if s.attributes.get("scenario.name") == "latency"
    ]
    assert len(delays) == 4
    assert all(550 <= d <= 700 for d in delays), delays


# --- errors -----------------------------------------------------------------------------------


async def test_errors_fail_exactly_the_share_asked_for(api: TrainerApi) -> None:
    await api.switch_on("errors", route=CREATE, rate=0.5, status=503)
    statuses = [
        (await api.client.post(CREATE, json=application_body())).status_code for _ in range(6)
    ]
    assert statuses == [201, 503, 201, 503, 201, 503]
    assert api.count(CREATE, status_code="503") == 3
    assert api.count(CREATE, status_code="201") == 3
    assert api.value("loan_applications_created_total") == 3  # the failed ones never ran

    failed = [s for s in api.server_spans(CREATE) if s.attributes.get("scenario.name")]
    assert len(failed) == 3
    assert {s.attributes["http.response.status_code"] for s in failed} == {503}
    assert {s.attributes["scenario.effect"] for s in failed} == {
        f"50% of requests answer 503 on {CREATE}"
    }
    warnings = [
        r
        for r in api.capture.log_records()
        if body_of(r) == "scenario.injected" and attributes_of(r).get("scenario") == "errors"
    ]
    assert len(warnings) == 3
    assert {severity_of(r) for r in warnings} == {"WARN"}
    listing = (await api.client.get("/admin/scenarios", headers=ADMIN)).json()
    (active,) = listing["active"]
    assert (active["requests_seen"], active["requests_hit"]) == (6, 3)

    await api.switch_off("errors")
    statuses = [
        (await api.client.post(CREATE, json=application_body())).status_code for _ in range(4)
    ]
    assert statuses == [201] * 4
    assert api.count(CREATE, status_code="503") == 3
    assert api.count(CREATE, status_code="201") == 7


# --- exception storm --------------------------------------------------------------------------


async def test_exception_storm_counts_and_logs_every_exception(api: TrainerApi) -> None:
    applicant = await create_application(api.client)
    await api.switch_on("exceptions", route=ONE)
    assert await read(api, applicant, 4) == [500] * 4
    labels = {"route": ONE, "exception_type": "TrainerScenarioError"}
    assert api.value("http_request_exceptions_total", **labels) == 4
    assert api.count(ONE, status_code="500") == 4

    errors = [
        r
        for r in api.capture.log_records()
        if severity_of(r) == "ERROR" and body_of(r) == "unhandled exception"
    ]
    assert len(errors) == 4
    assert {attributes_of(r).get("exception.type") for r in errors} == {"TrainerScenarioError"}
    assert all("Traceback" in str(attributes_of(r).get("exception.stacktrace")) for r in errors)
    spans = [s for s in api.server_spans(ONE) if s.attributes.get("scenario.name")]
    assert len(spans) == 4
    assert {s.status.status_code for s in spans} == {StatusCode.ERROR}
    assert {s.attributes["scenario.name"] for s in spans} == {"exceptions"}

    await api.switch_off("exceptions")
    assert await read(api, applicant, 2) == [200, 200]
    assert api.value("http_request_exceptions_total", **labels) == 4
    assert api.count(ONE, status_code="200") == 2


async def test_http_scenarios_never_touch_admin_metrics_or_health(api: TrainerApi) -> None:
    await api.switch_on("exceptions")  # every route
    await api.switch_on("latency", delay_ms=2000)
    assert (await api.client.get("/health/live")).status_code == 200
    assert (await api.client.get("/metrics")).status_code == 200
    assert (await api.client.get("/admin/scenarios", headers=ADMIN)).status_code == 200
    reset = await api.client.delete("/admin/scenarios", headers=ADMIN)
    assert reset.status_code == 200
    assert reset.json()["switched_off"] == ["exceptions", "latency"]
    assert (await api.client.post(CREATE, json=application_body())).status_code == 201
    assert api.value("http_request_exceptions_total") == 0


# --- slow database ----------------------------------------------------------------------------


async def test_slow_db_stretches_every_statement_span(api: TrainerApi) -> None:
    await create_application(api.client)
    baseline = [s for s in api.capture.spans() if s.kind.name == "CLIENT"]
    assert baseline
    assert all("scenario.name" not in s.attributes for s in baseline)
    api.capture.clear()

    # 600 ms a statement: the slowed request is above the 0.5 s bound, a normal one has 0.5 s
    # for its own work on a loaded machine.
    await api.switch_on("slow-db", delay_ms=600)
    await create_application(api.client)
    statements = [s for s in api.capture.spans() if s.kind.name == "CLIENT"]
    assert statements
    for span in statements:
        assert span.attributes["scenario.name"] == "slow-db"
        assert (span.end_time - span.start_time) / 1e9 >= 0.6, span.name
        assert scenario_events(span)[0]["delay_ms"] == 600.0
    (server,) = api.server_spans(CREATE)
    assert (server.end_time - server.start_time) / 1e9 >= 0.6 * len(statements)
    assert api.bucket(CREATE, "0.5") == 1  # only the request before the scenario

    await api.switch_off("slow-db")
    api.capture.clear()
    await create_application(api.client)
    after = [s for s in api.capture.spans() if s.kind.name == "CLIENT"]
    assert after
    assert all("scenario.name" not in s.attributes for s in after)
    assert api.bucket(CREATE, "0.5") == 2


# --- tagger -----------------------------------------------------------------------------------


async def test_unreachable_tagger_takes_the_tagging_failed_path(api: TrainerApi) -> None:
    applicant = await create_application(api.client)
    await api.switch_on("tagger", mode="unreachable")
    response = await upload(api.client, applicant, content=pdf("Passport"))
    assert response.status_code == 502
    assert response.json()["document_status"] == "tagging_failed"
    assert api.tagger.calls == 0
    assert api.value("loan_tagger_failures_total", reason="unavailable") == 1
    assert api.count(DOCUMENTS, status_code="502") == 1

    await api.switch_off("tagger")
    response = await upload(api.client, applicant, content=pdf("Passport"))
    assert response.status_code == 201, response.text
    assert api.tagger.calls == 1
    assert api.value("loan_tagger_failures_total") == 1
    assert api.value("loan_documents_tagged_total") == 1


async def test_slow_tagger_runs_into_the_apis_timeout(database_url: str) -> None:
    async with trainer_api(database_url, tagger_timeout_seconds=0.3) as api:
        applicant = await create_application(api.client)
        await api.switch_on("tagger", mode="slow", delay_ms=2000)
        response = await upload(api.client, applicant, content=pdf("Passport"))
        assert response.status_code == 504
        assert api.value("loan_tagger_failures_total", reason="timeout") == 1
        assert api.tagger.calls == 0
        (span,) = [
            s
            for s in api.server_spans(DOCUMENTS)
            if s.attributes.get("http.response.status_code") == 504
        ]
        assert 0.3 <= (span.end_time - span.start_time) / 1e9 < 2.0  # cut at the api's budget

        # Slower than normal but inside the budget: tagged, just late.
        await api.switch_on("tagger", mode="slow", delay_ms=100)
        response = await upload(api.client, applicant, content=pdf("Passport"))
        assert response.status_code == 201, response.text
        assert api.tagger.calls == 1
        assert api.value("loan_tagger_failures_total") == 1


# --- the tagger service's own scenarios --------------------------------------------------------


async def test_the_tagger_service_has_the_same_mechanism() -> None:
    capture = capture_telemetry(service_name="doc-tagger")
    registry = CollectorRegistry()
    settings = TaggerSettings(admin_enabled=True, admin_token=TOKEN, log_format="json")
    app = create_tagger_app(settings, registry=registry, telemetry=capture.telemetry)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    tags = "/api/v1/tags"
    headers = {"Content-Type": "application/pdf", "X-Document-Kind": "id"}

    def count(le: str | None = None) -> float:
        name = "http_request_duration_seconds_" + ("bucket" if le else "count")
        labels = {"method": "POST", "route": tags, "status_code": "200", "app_name": "doc-tagger"}
        return registry.get_sample_value(name, labels | ({"le": le} if le else {})) or 0.0

    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tagger") as client:
            assert (await client.post(tags, content=pdf("Passport"), headers=headers)).is_success
            # Only the scenarios the tagger can act on.
            listing = (await client.get("/admin/scenarios", headers=ADMIN)).json()
            assert sorted(listing["available"]) == ["errors", "exceptions", "latency"]
            refused = await client.put("/admin/scenarios/slow-db", json={}, headers=ADMIN)
            assert refused.status_code == 404
            on = await client.put(
                "/admin/scenarios/latency", json={"route": tags, "delay_ms": 600}, headers=ADMIN
            )
            assert on.status_code == 200
            assert (await client.post(tags, content=pdf("Passport"), headers=headers)).is_success
            assert (count(), count("0.5")) == (2, 1)
            off = await client.delete("/admin/scenarios/latency", headers=ADMIN)
            assert off.json() == {"name": "latency", "was_active": True}
            assert (await client.post(tags, content=pdf("Passport"), headers=headers)).is_success
            assert (count(), count("0.5")) == (3, 2)
        slowed = [s for s in capture.spans() if s.attributes.get("scenario.name") == "latency"]
        assert [s.name for s in slowed] == [f"POST {tags}"]
    finally:
        capture.telemetry.shutdown()


# --- the version a canary reports -------------------------------------------------------------


async def test_service_version_override_reaches_app_info(database_url: str) -> None:
    async with trainer_api(database_url, service_version="0.2.0-canary") as api:
        assert api.value("app_info", app_name="loan-api", version="0.2.0-canary") == 1
        assert api.value("app_info", version="0.1.0") == 0
        assert api.app.version == "0.2.0-canary"
    async with trainer_api(database_url) as api:
        assert api.value("app_info", app_name="loan-api", version="0.1.0") == 1

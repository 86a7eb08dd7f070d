"""The alert receiver through its HTTP API (the SDK off, as in the whole integration tier): one
JSON log line per alert carrying only the alert's labels and annotations; hostile bodies answered
with a 4xx problem and no log line; a receiver made to fail (trainer mode) answers 5xx, which
Alertmanager retries. The OTLP copies of the lines are checked in tests/telemetry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from alert_receiver.main import NOTIFICATIONS_PATH
from alert_receiver.notifications import MAX_VALUE_CHARS
from tests.support.alert_payloads import DASHBOARD, PLANTED, RUNBOOK, alert, notification
from tests.support.alert_receiver import EVENT, Receiver, running_receiver
from tests.support.trainer import ADMIN, TOKEN

LIMIT = 64 * 1024


pytestmark = pytest.mark.usefixtures("clean_telemetry_state")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver(alert_receiver_max_body_bytes=LIMIT) as made:
        yield made


def notifications(receiver: Receiver) -> list[dict[str, object]]:
    return [line for line in receiver.lines() if line["event"] == EVENT]


# --- notifications become log lines -----------------------------------------------------------


async def test_each_alert_becomes_one_log_line_with_its_links(receiver: Receiver) -> None:
    document = notification(
        alert(),
        alert(status="resolved", alertname="ServiceTargetDown", fingerprint="00aa11bb22cc33dd"),
    )
    response = await receiver.post(document)
    assert response.status_code == 200, response.text
    assert response.json() == {"alerts": 2}

    firing, resolved = notifications(receiver)
    assert (firing["level"], resolved["level"]) == ("warning", "info")
    assert firing["service"] == "alert-receiver"
    assert firing["alert_status"] == "firing"
    assert firing["alertname"] == "HttpHighErrorRatio"
    assert firing["severity"] == "critical"
    assert firing["runbook_url"] == RUNBOOK
    assert firing["dashboard_url"] == DASHBOARD
    assert firing["alert_fingerprint"] == "4f0e6c8a1b2d3e5f"
    assert firing["alert_starts_at"] == "2026-11-30T10:00:00.123456Z"
    assert firing["alert_ends_at"] == "2026-11-30T10:04:00.500000Z"
    assert json.loads(str(firing["alert_labels"]))["app_name"] == "loan-api"
    summary = json.loads(str(firing["alert_annotations"]))["summary"]
    assert summary == "loan-api answers 12.5% of requests with 5xx"
    assert resolved["alert_status"] == "resolved"
    assert resolved["alertname"] == "ServiceTargetDown"
    assert resolved["alert_ends_at"] == "2026-11-30T10:09:30Z"

    assert receiver.alerts_counted("firing", "critical") == 1
    assert receiver.alerts_counted("resolved", "critical") == 1


async def test_the_payloads_other_fields_reach_no_log_line(receiver: Receiver) -> None:
    assert (await receiver.post(notification(alert(), alert(status="resolved")))).is_success
    # The same secrets in bodies that fail: error paths dump no body either.
    broken = json.dumps(notification()).replace('"version": "4"', '"version": "4",').encode()
    assert (await receiver.post_raw(broken)).status_code == 400
    wrong = notification()
    wrong["alerts"][0]["startsAt"] = "yesterday"
    answer = await receiver.post(wrong)
    assert answer.status_code == 422
    logged = receiver.stdout.getvalue()
    assert logged.count(EVENT) == 2
    for secret in PLANTED:
        assert secret not in logged, secret
        assert secret not in answer.text, secret


async def test_severities_outside_the_known_set_do_not_grow_the_series(
    receiver: Receiver,
) -> None:
    alerts = [alert(labels={"severity": f"sev-{i}"}, fingerprint=f"{i:016x}") for i in range(20)]
    no_severity = alert(fingerprint="00000000000000ff")
    del no_severity["labels"]["severity"]
    assert (await receiver.post(notification(*alerts, no_severity))).is_success
    assert receiver.alerts_counted("firing", "other") == 20
    assert receiver.alerts_counted("firing", "none") == 1
    series = {
        tuple(sorted(sample.labels.items()))
        for metric in receiver.registry.collect()
        for sample in metric.samples
        if sample.name == "alert_receiver_alerts_total"
    }
    assert len(series) == 2


async def test_truncated_alerts_are_counted(receiver: Receiver) -> None:
    document = notification()
    document["truncatedAlerts"] = 5
    assert (await receiver.post(document)).is_success
    assert receiver.registry.get_sample_value("alert_receiver_truncated_alerts_total") == 5


# --- hostile input ----------------------------------------------------------------------------


async def test_oversized_bodies_are_413_declared_or_streamed(receiver: Receiver) -> None:
    big = json.dumps(notification(alert(annotations={"description": "d" * LIMIT}))).encode()
    declared = await receiver.post_raw(big)
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["max_bytes"] == LIMIT

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await receiver.client.post(
        NOTIFICATIONS_PATH, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert notifications(receiver) == []
    # Just under the limit is fine.
    fits = notification(alert(annotations={"description": "d" * (LIMIT - 2048)}))
    assert (await receiver.post(fits)).status_code == 200


@pytest.mark.parametrize(
    ("content", "media_type", "status", "slug"),
    [
        (b'{"version": "4", "alerts": [', "application/json", 400, "malformed-json"),
        (b"\xff\xfe\x00", "application/json", 400, "malformed-json"),
        (b"[" * 50_000, "application/json", 400, "malformed-json"),
        (json.dumps(notification()).encode(), "text/plain", 415, "unsupported-media-type"),
        (json.dumps(notification()).encode(), "", 415, "unsupported-media-type"),
        (
            json.dumps({**notification(), "version": "3"}).encode(),
            "application/json",
            422,
            "unsupported-version",
        ),
        (b'{"version": "4"}', "application/json", 422, "invalid-notification"),
        (b"[]", "application/json", 422, "invalid-notification"),
    ],
    ids=[
        "truncated-json",
        "not-utf8",
        "deep-nesting",
        "text-plain",
        "no-media-type",
        "version-3",
        "no-alerts",
        "a-list",
    ],
)
async def test_bad_bodies_get_a_4xx_problem_and_no_log_line(
    receiver: Receiver, content: bytes, media_type: str, status: int, slug: str
) -> None:
    response = await receiver.post_raw(content, media_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:loan-desk:problem:{slug}"
    assert notifications(receiver) == []
    assert receiver.alerts_counted("firing", "critical") == 0


async def test_huge_label_values_are_cut_in_the_line(receiver: Receiver) -> None:
    huge = "x" * 30_000
    response = await receiver.post(
        notification(alert(labels={"instance": huge}, annotations={"summary": huge}))
    )
    assert response.status_code == 200, response.text
    (line,) = notifications(receiver)
    instance = json.loads(str(line["alert_labels"]))["instance"]
    assert instance == "x" * MAX_VALUE_CHARS + f"…[{30_000 - MAX_VALUE_CHARS} more characters]"
    assert str(line["alert_summary"]).startswith("x" * MAX_VALUE_CHARS + "…[")
    assert len(json.dumps(line)) < 4 * 1024


async def test_too_many_labels_is_a_422_that_names_no_label(receiver: Receiver) -> None:
    labels = {f"secret-label-{i}": "v" for i in range(40)}
    response = await receiver.post(notification(alert(labels=labels)))
    assert response.status_code == 422
    assert "secret-label" not in response.text
    assert response.json()["errors"] == [
        {
            "field": "alerts.0.labels",
            "message": "Dictionary should have at most 32 items after validation, not more",
            "type": "too_long",
        }
    ]


async def test_health_probes_metrics_and_openapi(receiver: Receiver) -> None:
    assert (await receiver.client.get("/health/live")).json() == {"status": "ok"}
    assert (await receiver.client.get("/health/ready")).json() == {"status": "ok"}
    assert (await receiver.post(notification())).is_success
    metrics = (await receiver.client.get("/metrics")).text
    assert 'alert_receiver_alerts_total{severity="critical",status="firing"} 1.0' in metrics
    assert (
        'http_request_duration_seconds_count{app_name="alert-receiver",method="POST",'
        f'route="{NOTIFICATIONS_PATH}",status_code="200"}} 1.0'
    ) in metrics
    openapi = (await receiver.client.get("/openapi.json")).json()
    body = openapi["paths"][NOTIFICATIONS_PATH]["post"]["requestBody"]
    assert "startsAt" in json.dumps(body["content"]["application/json"]["schema"])


# --- a failing receiver -----------------------------------------------------------------------


async def test_trainer_errors_make_the_receiver_answer_5xx() -> None:
    async with running_receiver(admin_enabled=True, admin_token=TOKEN) as receiver:
        on = await receiver.client.put(
            "/admin/scenarios/errors", json={"rate": 1.0, "status": 500}, headers=ADMIN
        )
        assert on.status_code == 200, on.text
        failed = await receiver.post(notification())
        assert failed.status_code == 500
        assert notifications(receiver) == []
        assert receiver.alerts_counted("firing", "critical") == 0

        off = await receiver.client.delete("/admin/scenarios/errors", headers=ADMIN)
        assert off.json() == {"name": "errors", "was_active": True}
        # Alertmanager's retry of the same notification now gets through.
        assert (await receiver.post(notification())).status_code == 200
        assert len(notifications(receiver)) == 1

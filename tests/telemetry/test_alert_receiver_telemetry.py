"""The alert receiver's notifications as the collector receives them: one OTLP log record per
alert whose attributes are the line's fields (Loki's structured metadata), inside the request's
trace, and a custom span that carries counts only. Nothing else of the payload in any record or
span."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from alert_receiver.main import NOTIFICATIONS_PATH
from loan_desk_telemetry.testing import Capture, capture_telemetry
from tests.support.alert_payloads import DASHBOARD, PLANTED, RUNBOOK, alert, notification
from tests.support.alert_receiver import EVENT, Receiver, running_receiver
from tests.support.trainer import attributes_of, body_of, severity_of

FIELDS = {
    "alert_status",
    "alertname",
    "severity",
    "alert_summary",
    "runbook_url",
    "dashboard_url",
    "alert_labels",
    "alert_annotations",
    "alert_starts_at",
    "alert_ends_at",
    "alert_fingerprint",
}


pytestmark = pytest.mark.usefixtures("clean_telemetry_state")


@pytest.fixture
async def traced() -> AsyncIterator[tuple[Receiver, Capture]]:
    capture = capture_telemetry(service_name="alert-receiver", version="0.1.0")
    try:
        async with running_receiver(telemetry=capture.telemetry) as receiver:
            yield receiver, capture
    finally:
        capture.telemetry.shutdown()


async def test_one_otlp_record_per_alert_in_the_requests_trace(
    traced: tuple[Receiver, Capture],
) -> None:
    receiver, capture = traced
    document = notification(
        alert(),
        alert(status="resolved", alertname="ServiceTargetDown", fingerprint="00aa11bb22cc33dd"),
    )
    document["truncatedAlerts"] = 3
    assert (await receiver.post(document)).status_code == 200

    records = [r for r in capture.log_records() if body_of(r) == EVENT]
    assert len(records) == 2
    firing, resolved = (attributes_of(r) for r in records)
    # Exactly the line's fields, plus the logger's name: nothing else of the payload.
    assert (
        set(firing) - {"logger_name", "code.function.name", "code.file.path", "code.line.number"}
        == FIELDS
    )
    assert firing["runbook_url"] == RUNBOOK
    assert firing["dashboard_url"] == DASHBOARD
    assert json.loads(firing["alert_labels"])["alertname"] == "HttpHighErrorRatio"
    assert resolved["alert_status"] == "resolved"
    assert [severity_of(r) for r in records] == ["WARN", "INFO"]

    spans = capture.spans()
    (server,) = [s for s in spans if s.name == f"POST {NOTIFICATIONS_PATH}"]
    (custom,) = [s for s in spans if s.name == "alert_receiver.notification"]
    assert custom.parent is not None
    assert custom.parent.span_id == server.context.span_id
    assert dict(custom.attributes or {}) == {
        "alertmanager.notification.status": "firing",
        "alertmanager.notification.alerts": 2,
        "alertmanager.notification.truncated_alerts": 3,
    }
    assert {r.log_record.trace_id for r in records} == {server.context.trace_id}
    assert {r.log_record.span_id for r in records} == {custom.context.span_id}
    lines = [line for line in receiver.lines() if line["event"] == EVENT]
    assert {line["trace_id"] for line in lines} == {format(server.context.trace_id, "032x")}


async def test_no_other_payload_field_in_any_record_or_span(
    traced: tuple[Receiver, Capture],
) -> None:
    receiver, capture = traced
    assert (await receiver.post(notification(alert(), alert(status="resolved")))).is_success
    wrong = notification()
    wrong["alerts"][0]["endsAt"] = 12
    assert (await receiver.post(wrong)).status_code == 422
    dumped = repr([(body_of(r), attributes_of(r)) for r in capture.log_records()]) + repr(
        [
            (s.name, dict(s.attributes or {}), [e.attributes for e in s.events])
            for s in capture.spans()
        ]
    )
    assert dumped.count(EVENT) == 2
    for secret in PLANTED:
        assert secret not in dumped, secret

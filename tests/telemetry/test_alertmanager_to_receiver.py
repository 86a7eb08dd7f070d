"""A real Alertmanager (Debian's) notifying the real alert receiver (`alert-receiver serve`):
its webhook payloads, firing and resolved, each become one log line; a receiver answering 500 is
retried and counted by Alertmanager's own metrics, the names the pipeline dashboard reads.

The Alertmanager config here is the test's own with short timings (group_wait and
group_interval 1 s), so that the contract between the two runs in seconds; the project's routing
(alertmanager/alertmanager.yml) is checked with amtool in tests/config and with the shipped
timings in the alert tier.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.alertmanager import RunningAlertmanager, matching, running_alertmanager
from tests.support.expectations import wait_for
from tests.support.services import Service, base_env, start_service
from tests.support.trainer import ADMIN, TOKEN

EVENT = "alert.notification"
RUNBOOK = "https://github.com/example/loan-desk/blob/main/docs/runbooks.md#receivertest"
DASHBOARD = "http://localhost:3000/d/loan-desk-service-overview/service-overview?viewPanel=7"


@dataclass
class Pair:
    alertmanager: RunningAlertmanager
    receiver: Service

    def lines(self, alertname: str) -> list[dict[str, Any]]:
        return [
            line
            for line in self.receiver.log_lines()
            if line.get("event") == EVENT and line.get("alertname") == alertname
        ]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("alerting")
    receiver = start_service(
        "alert-receiver",
        name="alert-receiver",
        log_dir=tmp,
        env=base_env()
        | {
            "LOG_FORMAT": "json",
            "APP_ENV": "test",
            "OTEL_SDK_DISABLED": "true",
            "ADMIN_ENABLED": "true",
            "ADMIN_TOKEN": TOKEN,
        },
    )
    try:
        receiver.wait_ready()
        config = {
            "route": {
                "receiver": "alert-receiver",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "alert-receiver",
                    "webhook_configs": [
                        {"url": f"{receiver.url}/v1/notifications", "send_resolved": True}
                    ],
                }
            ],
        }
        with running_alertmanager(config, tmp / "am") as alertmanager:
            yield Pair(alertmanager, receiver)
    finally:
        receiver.stop()


def _alert(alertname: str, *, resolved: bool = False) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": alertname, "severity": "warning", "app_name": "loan-api"},
        "annotations": {
            "summary": f"{alertname} for the receiver test",
            "runbook_url": RUNBOOK,
            "dashboard_url": DASHBOARD,
        },
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        # Resolved: an end in the past. Firing: an end ahead, as Prometheus sends it.
        "endsAt": (
            now - timedelta(seconds=1) if resolved else now + timedelta(minutes=5)
        ).isoformat(),
        "generatorURL": "http://prometheus:9090/graph",
    }


def test_a_firing_then_resolved_alert_is_two_log_lines(pair: Pair) -> None:
    pair.alertmanager.post([_alert("ReceiverTestFiring")])
    assert not wait_for(
        lambda: [] if pair.lines("ReceiverTestFiring") else ["no firing line yet"], timeout=30
    ), pair.receiver.output()[-2000:]
    (active,) = matching(pair.alertmanager.alerts(), alertname="ReceiverTestFiring")
    assert active.state == "active"
    assert active.receivers == ("alert-receiver",)

    pair.alertmanager.post([_alert("ReceiverTestFiring", resolved=True)])
    assert not wait_for(
        lambda: [] if len(pair.lines("ReceiverTestFiring")) >= 2 else ["no resolved line yet"],
        timeout=30,
    ), pair.receiver.output()[-2000:]

    firing, resolved = pair.lines("ReceiverTestFiring")
    for line, status in ((firing, "firing"), (resolved, "resolved")):
        assert line["alert_status"] == status
        assert line["runbook_url"] == RUNBOOK
        assert line["dashboard_url"] == DASHBOARD
        assert line["alert_fingerprint"] == active.fingerprint
        assert json.loads(line["alert_labels"]) == {
            "alertname": "ReceiverTestFiring",
            "app_name": "loan-api",
            "severity": "warning",
        }
    # Alertmanager's own external URL (it carries no secret here, but it is never logged).
    assert pair.alertmanager.base not in pair.receiver.stdout.read_text()


def test_a_failing_receiver_is_retried_and_counted(pair: Pair) -> None:
    def failed_requests() -> float:
        return pair.alertmanager.metric(
            "alertmanager_notification_requests_failed_total", integration="webhook"
        )

    before = failed_requests()
    attempts_before = pair.alertmanager.metric(
        "alertmanager_notifications_total", integration="webhook"
    )
    with httpx.Client(base_url=pair.receiver.url, timeout=10.0) as client:
        on = client.put("/admin/scenarios/errors", json={"rate": 1.0, "status": 500}, headers=ADMIN)
        assert on.status_code == 200, on.text
        try:
            pair.alertmanager.post([_alert("ReceiverTestRetried")])
            # Alertmanager retries within the notification's deadline: several failed requests.
            assert not wait_for(
                lambda: [] if failed_requests() >= before + 2 else ["fewer than 2 retries"],
                timeout=30,
            ), pair.alertmanager.log.read_text()[-2000:]
            assert pair.lines("ReceiverTestRetried") == []
        finally:
            off = client.delete("/admin/scenarios/errors", headers=ADMIN)
            assert off.status_code == 200, off.text
    # Once the receiver answers again, the next attempt gets through: exactly one line.
    assert not wait_for(
        lambda: [] if pair.lines("ReceiverTestRetried") else ["not delivered after recovery"],
        timeout=60,
    ), pair.alertmanager.log.read_text()[-2000:]
    assert len(pair.lines("ReceiverTestRetried")) == 1
    assert (
        pair.alertmanager.metric("alertmanager_notifications_total", integration="webhook")
        > attempts_before
    )


def test_the_alert_list_decoder_reads_the_real_api(pair: Pair) -> None:
    pair.alertmanager.post([_alert("ReceiverTestListed")])
    listed = wait_for(
        lambda: (
            [] if matching(pair.alertmanager.alerts(), alertname="ReceiverTestListed") else ["x"]
        ),
        timeout=10,
    )
    assert not listed
    # The filter parameter narrows the answer on the server side.
    filtered = pair.alertmanager.alerts(alertname="ReceiverTestListed")
    assert [a.labels["alertname"] for a in filtered] == ["ReceiverTestListed"]
    assert filtered[0].annotations["runbook_url"] == RUNBOOK
    assert len(filtered[0].fingerprint) == 16


def test_every_payload_alertmanager_sent_was_accepted(pair: Pair) -> None:
    """No real payload failed validation: each notification got 200, or the 500 the trainer
    scenario injected; never a 4xx."""
    statuses = [
        line.get("status_code")
        for line in pair.receiver.log_lines()
        if line.get("event") == "request" and line.get("route") == "/v1/notifications"
    ]
    assert statuses.count(200) >= 3, statuses
    assert set(statuses) <= {200, 500}, statuses

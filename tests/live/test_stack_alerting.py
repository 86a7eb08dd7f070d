"""Target 2, alerting: a trainer scenario's alert arrives in Alertmanager's API, in Grafana's
(through the provisioned Alertmanager datasource, as an anonymous Viewer), and as the alert
receiver's notification line in Loki with its runbook and dashboard links.

The scenario: every request to the api answers 503 (trainer `errors`, rate 1). The api's 5xx
ratio passes HttpHighErrorRatio's 5 % within a scrape or two, the rule holds it for its `for:`
(5 minutes, prometheus/rules/http.yml) and Alertmanager notifies after its group wait: about
six minutes in all. The scenario switches itself off after 15 minutes should this test die, and
is switched off at the end in any case. Runs after test_live_stack.py (file order), whose traffic
it would otherwise break. Needs LIVE_ADMIN_TOKEN (scripts/stack-test.sh reads the stack's).

Resolution is not waited for here: it takes the rule's 5-minute window again; the alert tier in
.ci/run proves every declared alert resolves.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.alertmanager import AlertmanagerApi, AmAlert, gettable_alerts, matching
from tests.support.expectations import wait_for
from tests.support.live_backends import Grafana, Loki, PrometheusApi, url
from tests.support.tools import missing

ALERT = "HttpHighErrorRatio"
LABELS = {"alertname": ALERT, "app_name": "loan-api"}
# The rule's `for:` (5m) plus the 5-minute window filling past 5 %, evaluation and scrape
# intervals (15 s each) and Alertmanager's group wait, with room to spare.
FIRING_TIMEOUT = 12 * 60.0
# Alertmanager -> receiver -> collector -> Loki.
NOTIFICATION_TIMEOUT = 3 * 60.0
# Grafana reads the same Alertmanager; it may lag by one poll at most.
GRAFANA_TIMEOUT = 60.0
ALERTMANAGER_DATASOURCE = "alertmanager"
# pytest-timeout's default (300 s, pyproject.toml) counts the fixtures' wait too.
pytestmark = pytest.mark.timeout(FIRING_TIMEOUT + NOTIFICATION_TIMEOUT + GRAFANA_TIMEOUT + 120)


@pytest.fixture(scope="module")
def admin_token() -> str:
    token = os.environ.get("LIVE_ADMIN_TOKEN", "").strip()
    if not token:
        missing("LIVE_ADMIN_TOKEN is not set (scripts/stack-test.sh provides it)")
    return token


@pytest.fixture(scope="module")
def alertmanager(stack_up: None) -> AlertmanagerApi:
    return AlertmanagerApi(url("LIVE_ALERTMANAGER_URL"))


@pytest.fixture(scope="module")
def api_errors(stack_up: None, admin_token: str) -> Iterator[float]:
    """Every api request answers 503 from now on; the moment it started."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url("LIVE_API_URL"), timeout=30.0, headers=headers) as client:
        response = client.put(
            "/admin/scenarios/errors",
            json={"rate": 1.0, "status": 503, "duration_seconds": 900},
        )
        assert response.status_code == 200, response.text
        started = time.time()
        try:
            yield started
        finally:
            client.delete("/admin/scenarios/errors")


@pytest.fixture(scope="module")
def firing(api_errors: float, alertmanager: AlertmanagerApi, prometheus: PrometheusApi) -> AmAlert:
    """The alert, active in Alertmanager."""
    discovered = prometheus.value("sum(prometheus_notifications_alertmanagers_discovered)")
    assert discovered >= 1, "Prometheus knows no Alertmanager (prometheus.yml `alerting:`)"

    def active() -> list[AmAlert]:
        return [a for a in matching(alertmanager.alerts(**LABELS), **LABELS) if a.state == "active"]

    assert not wait_for(
        lambda: [] if active() else [f"{ALERT} not active in Alertmanager yet"],
        timeout=FIRING_TIMEOUT,
        interval=10.0,
    ), f"{ALERT} did not reach Alertmanager within {FIRING_TIMEOUT:.0f} s"
    print(f"\n{ALERT}: active in Alertmanager {time.time() - api_errors:.0f} s after the scenario")
    return active()[0]


def test_the_alert_is_in_alertmanagers_api(firing: AmAlert) -> None:
    assert firing.labels["severity"] == "critical"
    assert firing.annotations.get("summary"), firing.annotations
    assert firing.annotations.get("runbook_url", "").startswith(("https://", "http://"))
    assert firing.receivers, "routed to no receiver"


def test_grafana_shows_it_to_an_anonymous_viewer(firing: AmAlert, grafana: Grafana) -> None:
    path = f"/api/alertmanager/{ALERTMANAGER_DATASOURCE}/api/v2/alerts"
    params = [("filter", f'{k}="{v}"') for k, v in sorted(LABELS.items())]

    def problems() -> list[str]:
        response = grafana.anonymous_get(path, params)
        if response.status_code != 200:
            return [f"{response.status_code}: {response.text[:300]}"]
        found = [a.fingerprint for a in gettable_alerts(response.json())]
        return [] if firing.fingerprint in found else [f"{firing.fingerprint} not in {found}"]

    left = wait_for(problems, timeout=GRAFANA_TIMEOUT, interval=5.0)
    assert not left, left


def test_the_notification_is_a_log_line_in_loki_with_its_links(
    firing: AmAlert, loki: Loki, api_errors: float
) -> None:
    query = (
        f'{{service_name="alert-receiver"}} | alertname="{ALERT}" | alert_status="firing"'
        f' | alert_fingerprint="{firing.fingerprint}"'
    )

    def lines() -> list[dict[str, str]]:
        records = loki.query_range(query, api_errors - 60, time.time() + 60)
        return [{k: str(v) for k, v in r.attributes.items()} for r in records]

    assert not wait_for(
        lambda: [] if lines() else ["no notification line in Loki yet"],
        timeout=NOTIFICATION_TIMEOUT,
        interval=5.0,
    ), query
    print(f"{ALERT}: notification in Loki {time.time() - api_errors:.0f} s after the scenario")
    line = lines()[0]
    assert line["runbook_url"] == firing.annotations["runbook_url"]
    # The receiver passes an http(s) URL or a site path on as a link, nothing else.
    dashboard = firing.annotations.get("dashboard_url", "")
    assert dashboard.startswith(("https://", "http://", "/")), firing.annotations
    assert line["dashboard_url"] == dashboard, line
    assert json.loads(line["alert_labels"])["app_name"] == "loan-api"
    assert line["severity"] == "critical"

"""The alerting panels: the Service overview's alert list, the Logs dashboard's notifications
with their runbook and dashboard links, and the Telemetry pipeline's notification health."""

from __future__ import annotations

import json
import re
from typing import Any

from alert_receiver.notifications import alert_fields
from alert_receiver.payload import parse_notification
from tests.support import dashboards as d
from tests.support.alert_payloads import notification

BOARDS = {path.name: d.load(path) for path in d.dashboard_files()}

# Option paths of the alertlist panel (grafana/grafana public/app/plugins/panel/alertlist/
# module.tsx: the options builder; types.ts: UnifiedAlertListOptions, StateFilter).
ALERTLIST_OPTIONS = {
    "viewMode": {"list", "stat"},
    "groupMode": {"default", "custom"},
    "groupBy": None,
    "maxItems": None,
    "sortOrder": {1, 2, 3, 4, 5},  # AlphaAsc, AlphaDesc, Importance, TimeAsc, TimeDesc
    "dashboardAlerts": None,
    "alertName": None,
    "alertInstanceLabelFilter": None,
    "datasource": None,
    "folder": None,
    "showInactiveAlerts": None,
    "stateFilter": None,
}
STATE_FILTER = {"firing", "pending", "recovering", "noData", "normal", "error"}

# Self-metrics the pipeline dashboard reads, with where their names are declared.
NOTIFIER_METRICS = {
    # prometheus/prometheus v3.14.0 notifier/metric.go (namespace prometheus, subsystem
    # notifications; alertmanagers_discovered has its full name there).
    "prometheus_notifications_sent_total",
    "prometheus_notifications_errors_total",
    "prometheus_notifications_dropped_total",
    "prometheus_notifications_queue_length",
    "prometheus_notifications_queue_capacity",
    "prometheus_notifications_alertmanagers_discovered",
    # prometheus/alertmanager notify/metrics.go (namespace alertmanager), nearest stored version
    # to v0.35.1.
    "alertmanager_notifications_total",
    "alertmanager_notification_requests_failed_total",
    "alertmanager_notifications_failed_total",
    # app/alert_receiver/notifications.py
    "alert_receiver_alerts_total",
}


def panels(name: str) -> dict[str, dict[str, Any]]:
    return {str(p.get("title")): p for p in d.iter_panels(BOARDS[name])}


def logged_fields() -> set[str]:
    parsed = parse_notification(json.dumps(notification()).encode())
    return set(alert_fields(parsed.alerts[0]))


def test_service_overview_lists_firing_and_pending_alerts() -> None:
    (panel,) = [
        p for p in d.iter_panels(BOARDS["service-overview.json"]) if p["type"] == "alertlist"
    ]
    options = panel["options"]
    assert set(options) <= set(ALERTLIST_OPTIONS), set(options) - set(ALERTLIST_OPTIONS)
    for key, allowed in ALERTLIST_OPTIONS.items():
        if allowed is not None and key in options:
            assert options[key] in allowed, (key, options[key])
    assert set(options["stateFilter"]) == STATE_FILTER
    assert options["stateFilter"]["firing"] is options["stateFilter"]["pending"] is True
    assert options["stateFilter"]["normal"] is False
    # Every rules source: no datasource name (which would not be portable) and no folder.
    assert options["datasource"] is None
    assert options["folder"] is None


def test_alert_panels_come_last_so_earlier_panel_ids_stay() -> None:
    # dashboard_url annotations link to panels by id; the alerting panels were appended.
    for name, first_title in (
        ("service-overview.json", "Alerts"),
        ("logs.json", "Alert notifications"),
        ("telemetry-pipeline.json", "Alerting: Prometheus -> Alertmanager -> alert receiver"),
    ):
        titles = [p.get("title") for p in d.iter_panels(BOARDS[name])]
        start = titles.index(first_title)
        assert all("lert" in str(t) or "otification" in str(t) for t in titles[start:]), titles[
            start:
        ]


def test_notifications_table_shows_the_receivers_fields_with_links() -> None:
    table = panels("logs.json")["Alert notifications (click the runbook or the dashboard)"]
    (target,) = table["targets"]
    assert target["expr"].startswith('{service_name=~"$service"} | alert_status=~')
    organize = next(t for t in table["transformations"] if t["id"] == "organize")
    shown = set(organize["options"]["includeByName"]) - {"Time"}
    assert shown <= logged_fields()
    links = {
        o["matcher"]["options"]: o["properties"][0]["value"][0]["url"]
        for o in table["fieldConfig"]["overrides"]
    }
    assert links == {"runbook_url": "${__value.raw}", "dashboard_url": "${__value.raw}"}


def test_notification_counts_group_by_a_logged_field() -> None:
    panel = panels("logs.json")["Alert notifications by status"]
    (target,) = panel["targets"]
    grouped = re.search(r"sum by \((\w+)\)", target["expr"])
    assert grouped
    assert grouped.group(1) in logged_fields()


def test_pipeline_reads_exactly_the_declared_notification_metrics() -> None:
    rows = list(d.iter_panels(BOARDS["telemetry-pipeline.json"]))
    titles = [p.get("title") for p in rows]
    start = titles.index("Alerting: Prometheus -> Alertmanager -> alert receiver")
    exprs = " ".join(t["expr"] for p in rows[start:] for t in p.get("targets", []))
    used = set(re.findall(r"\b(?:prometheus_notifications|alertmanager|alert_receiver)_\w+", exprs))
    assert used == NOTIFIER_METRICS
    for expr in (t["expr"] for p in rows[start:] for t in p.get("targets", [])):
        assert d.data_sources(expr), expr

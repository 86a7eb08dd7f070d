"""The alerting panels: Alertmanager and the alert receiver, at the end of three dashboards.

Appended to the Service overview, Logs and Telemetry pipeline dashboards (at the end, so the
panel ids that alert annotations link to stay where they are). docs/alerting.md.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.fields import (
    DASHED_LINE,
    by_name,
    colors,
    columns,
    green_from,
    link_override,
    log_labels_as_fields,
)
from dashboards.layout import Cell, Heading, Item, line
from dashboards.panels import generic_panel, stat, table, timeseries
from dashboards.queries import LOKI, PROM, loki, prom, rate_sum, zero_if_none

# Prometheus v3.14 notifier/metric.go (namespace prometheus, subsystem notifications):
# prometheus_notifications_{sent,errors}_total{alertmanager} (no series before an Alertmanager is
# discovered), prometheus_notifications_dropped_total, _queue_length, _queue_capacity,
# prometheus_notifications_alertmanagers_discovered. Alertmanager v0.35 notify/metrics.go:
# alertmanager_notifications_total{integration}, alertmanager_notifications_failed_total
# {integration, reason}, alertmanager_notification_requests_failed_total{integration} (each
# failed attempt, retries included). The receiver: alert_receiver_alerts_total{status, severity}.
RECEIVER_LOGS = '{service_name=~"$service"} | alert_status=~"firing|resolved"'


# The alert list's options (grafana/grafana public/app/plugins/panel/alertlist/module.tsx and
# types.ts): firing, pending, recovering and erroring rules of every rules source, most important
# first.
ALERT_LIST_OPTIONS: dict[str, Any] = {
    "viewMode": "list",
    "groupMode": "default",
    "groupBy": [],
    "maxItems": 20,
    "sortOrder": 3,  # SortOrder.Importance
    "dashboardAlerts": False,
    "alertName": "",
    "alertInstanceLabelFilter": "",
    "datasource": None,
    "folder": None,
    "showInactiveAlerts": False,
    "stateFilter": {
        "firing": True,
        "pending": True,
        "recovering": True,
        "noData": False,
        "normal": False,
        "error": True,
    },
}


def alert_list_items() -> list[Item]:
    """Service overview: the alert rules firing or pending, from Prometheus (alertlist panel)."""
    panel = (
        generic_panel(
            "alertlist",
            "Alerts firing and pending",
            "Every alert rule of the stack that is firing or pending (Prometheus "
            "evaluates them; Alertmanager routes them to the alert receiver, whose notifications "
            "are on the Logs dashboard). Most important first. Not filtered by the service "
            "picker: the pipeline's own alerts are here too.",
            [],
            # The panel reads alert rules, not a query: the datasource is only the dashboard's
            # convention; options.datasource (a name) stays unset, so every rules source shows.
            PROM,
        )
        .options(ALERT_LIST_OPTIONS)
        .links(
            [
                dash.DashboardLink("Alert groups and silences in Alertmanager").url(
                    "/alerting/groups?alertmanager=Alertmanager"
                )
            ]
        )
    )
    return [Heading("Alerts"), *line(panel, height=7)]


def alert_notification_items() -> list[Item]:
    """Logs: the alert receiver's lines (app/alert_receiver/notifications.py names the fields;
    Loki keeps them as structured metadata)."""
    runbook = "${__value.raw}"
    return [
        Heading("Alert notifications"),
        Cell(
            timeseries(
                "Alert notifications by status",
                "Alerts Alertmanager notified, per interval, firing and resolved (one log line "
                "of the alert receiver per alert; choose alert-receiver in the service picker, "
                "or All).",
                [
                    loki(
                        f"sum by (alert_status) (count_over_time({RECEIVER_LOGS} [$__auto]))",
                        "{{alert_status}}",
                    )
                ],
                datasource=LOKI,
                stack=True,
                bars=True,
                overrides=colors(("firing", "red"), ("resolved", "green")),
            ),
            width=8,
            height=8,
        ),
        Cell(
            table(
                "Alert notifications (click the runbook or the dashboard)",
                "The latest notifications, one line per alert: firing or resolved, the alert, "
                "its summary, and links to its runbook and to the dashboard panel that shows "
                "it (the alert's runbook_url and dashboard_url annotations). Expanding a line "
                "in Explore shows the same two links (the Loki datasource's derived fields).",
                [loki(RECEIVER_LOGS, max_lines=100)],
                datasource=LOKI,
                transformations=[
                    log_labels_as_fields(),
                    columns(
                        [
                            "Time",
                            "alert_status",
                            "alertname",
                            "severity",
                            "alert_summary",
                            "runbook_url",
                            "dashboard_url",
                        ],
                        rename={
                            "alert_status": "Status",
                            "alertname": "Alert",
                            "severity": "Severity",
                            "alert_summary": "Summary",
                        },
                    ),
                ],
                overrides=[
                    link_override("runbook_url", "Open the runbook", runbook),
                    link_override("dashboard_url", "Open the dashboard", runbook),
                ],
            ),
            width=16,
            height=8,
        ),
    ]


def alerting_pipeline_items() -> list[Item]:
    """Telemetry pipeline: alerts on their way out. With Alertmanager down, Prometheus keeps
    evaluating and its errors and drops climb; with the receiver failing, Alertmanager's failed
    requests (each retry) and failed notifications climb."""
    return [
        Heading("Alerting: Prometheus -> Alertmanager -> alert receiver"),
        *_prometheus_to_alertmanager(),
        *_alertmanager_to_receiver(),
    ]


def _prometheus_to_alertmanager() -> list[Item]:
    return line(
        timeseries(
            "Alerts Prometheus sends to Alertmanager",
            "Alerts per second Prometheus sent to Alertmanager (every attempt), the ones "
            "that failed (errors: Alertmanager down or refusing) and the ones dropped (no "
            "Alertmanager took them, or the queue was full). Rules keep being evaluated "
            "whatever happens here.",
            [
                prom(
                    f"{rate_sum('prometheus_notifications_sent_total')} or vector(0)",
                    "sent",
                ),
                prom(
                    f"{rate_sum('prometheus_notifications_errors_total')} or vector(0)",
                    "errors",
                ),
                prom(
                    rate_sum("prometheus_notifications_dropped_total"),
                    "dropped",
                ),
            ],
            unit="ops",
            overrides=colors(("sent", "green"), ("errors", "orange"), ("dropped", "red")),
        ),
        timeseries(
            "Prometheus notification queue",
            "Alerts waiting in Prometheus to be sent, against the queue's capacity. It "
            "fills while no Alertmanager answers; when it is full, alerts are dropped.",
            [
                prom("sum(prometheus_notifications_queue_length)", "queued"),
                prom("sum(prometheus_notifications_queue_capacity)", "capacity"),
            ],
            overrides=[by_name("capacity", DASHED_LINE)],
        ),
        stat(
            "Alertmanagers discovered",
            "Alertmanagers Prometheus knows to send to (its alerting block). 0 means "
            "alerts are evaluated and go nowhere.",
            [prom("sum(prometheus_notifications_alertmanagers_discovered)")],
            threshold_steps=green_from(1),
            graph=False,
        ),
        height=8,
    )


def _alertmanager_to_receiver() -> list[Item]:
    return line(
        timeseries(
            "Notifications Alertmanager sends",
            "Notifications per second Alertmanager attempted, the failed requests (every "
            "attempt, retries included: a receiver answering 5xx is retried until the "
            "group's interval runs out) and the notifications that failed for good, by "
            "reason. No line at all: Alertmanager is down (see Targets up).",
            [
                prom(
                    rate_sum("alertmanager_notifications_total"),
                    "attempted",
                ),
                prom(
                    rate_sum("alertmanager_notification_requests_failed_total"),
                    "failed requests",
                ),
                prom(
                    rate_sum("alertmanager_notifications_failed_total", "reason"),
                    "failed: {{reason}}",
                ),
            ],
            unit="ops",
        ),
        timeseries(
            "Alerts the receiver logged",
            "Alerts per second the alert receiver turned into log lines, firing and "
            "resolved (alert_receiver_alerts_total). Below what Alertmanager attempted: the "
            "receiver refused or failed them.",
            [
                prom(
                    zero_if_none(
                        rate_sum("alert_receiver_alerts_total", "status"),
                        "status",
                    ),
                    "{{status}}",
                )
            ],
            unit="ops",
        ),
        height=8,
    )

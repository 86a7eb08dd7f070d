"""Alertmanager webhook payloads as Alertmanager sends them (version 4: notify/webhook/webhook.go
``Message`` around template/template.go ``Data``), with secrets planted where a careless receiver
would leak them: the external URL's user info, the receiver's name, the group key and the common
annotations, none of which the receiver may log."""

from __future__ import annotations

import copy
from typing import Any

# Planted in the fields the receiver must never log; each is searched for in every sink.
EXTERNAL_URL = "http://am-user:am-Passw0rd-9f3c@alertmanager:9093"
RECEIVER = "loan-desk-webhook-receiver-7c1d"
GROUP_KEY = '{}/{severity="critical"}:{alertname="HttpHighErrorRatio", groupsecret="g-5e2b"}'
COMMON_SECRET = "common-annotation-secret-41aa"
PLANTED = ("am-Passw0rd-9f3c", "am-user", RECEIVER, "g-5e2b", COMMON_SECRET)

RUNBOOK = "https://github.com/example/loan-desk/blob/main/docs/runbooks.md#httphigherrorratio"
DASHBOARD = "http://localhost:3000/d/loan-desk-service-overview/service-overview?viewPanel=12"


def alert(
    *,
    status: str = "firing",
    alertname: str = "HttpHighErrorRatio",
    fingerprint: str = "4f0e6c8a1b2d3e5f",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": alertname,
            "app_name": "loan-api",
            "severity": "critical",
            **(labels or {}),
        },
        "annotations": {
            "summary": "loan-api answers 12.5% of requests with 5xx",
            "description": "More than 5% of the HTTP requests to loan-api returned a 5xx status.",
            "runbook_url": RUNBOOK,
            "dashboard_url": DASHBOARD,
            **(annotations or {}),
        },
        # Go's RFC 3339 with nanoseconds; a firing alert's end is in the future (Prometheus
        # sends ValidUntil), a resolved one's in the past.
        "startsAt": "2026-11-30T10:00:00.123456789Z",
        "endsAt": "2026-11-30T10:04:00.5Z" if status == "firing" else "2026-11-30T10:09:30Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=app%3Ahttp_request_error",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    items = [copy.deepcopy(a) for a in alerts] or [alert()]
    overall = status or ("firing" if any(a["status"] == "firing" for a in items) else "resolved")
    return {
        "receiver": RECEIVER,
        "status": overall,
        "alerts": items,
        "groupLabels": {"alertname": items[0]["labels"]["alertname"]},
        "commonLabels": {"severity": "critical"},
        "commonAnnotations": {"runbook_secret": COMMON_SECRET},
        "externalURL": EXTERNAL_URL,
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
    }

"""Each alert of a notification becomes one structured log line, ``alert.notification``.

The line goes through the project's logging pipeline (loan_desk_telemetry.configure_logging):
JSON on stdout and, with telemetry set up, one OTLP log record whose attributes Loki stores as
structured metadata (``{service_name="alert-receiver"} | alertname="HttpHighErrorRatio"``).
Its fields:

==================  ===========================================================================
``alert_status``    ``firing`` or ``resolved``
``alertname``       the ``alertname`` label ("" when the alert has none)
``severity``        the ``severity`` label ("" when none)
``alert_summary``   the ``summary`` annotation
``runbook_url``     the ``runbook_url`` annotation, when it is an http(s) URL or a path on the
                    same site (else ""); user info and sensitive query parameters redacted
``dashboard_url``   the ``dashboard_url`` annotation, the same way
``alert_labels``    every label, as a JSON object (sorted keys)
``alert_annotations``  every annotation, as a JSON object (sorted keys)
``alert_starts_at``, ``alert_ends_at``  RFC 3339 (UTC); ``alert_ends_at`` is "" for Go's zero time.
                    A firing alert's end is when Alertmanager would resolve it if Prometheus
                    stopped re-sending it.
``alert_fingerprint``  Alertmanager's id of the alert's label set
==================  ===========================================================================

Nothing else of the payload is logged: not the receiver name, the group key, the external URL
(it may carry credentials) or the group's common labels. Values under a sensitive name
(``token``, ``password``, ...; loan_desk_telemetry.SENSITIVE_KEYS) read ``[REDACTED]``, a value
longer
than ``MAX_VALUE_CHARS`` is cut with a marker saying how much was left out, and pairs past
``MAX_MAP_BYTES`` of JSON are left out under the name ``…``. Firing alerts log at WARNING,
resolved ones at INFO.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

import structlog
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter

from alert_receiver.payload import Alert, Notification
from loan_desk_telemetry import redact, redact_url

__all__ = ["MAX_VALUE_CHARS", "NotificationMetrics", "alert_fields", "record_notification"]

EVENT: Final = "alert.notification"
MAX_VALUE_CHARS: Final = 512
# alert_labels and alert_annotations each stay under this many bytes of JSON; the pairs that do
# not fit are left out, with a marker. Two of them plus the other fields stay under Loki's
# default max_structured_metadata_size (64 KB), so Loki never refuses a notification's line.
MAX_MAP_BYTES: Final = 24 * 1024
OMITTED: Final = "…"
_JSON_SEPARATORS: Final = (",", ":")
# The severity label's values the metric keeps as they are; anything else counts as "other", so
# a sender cannot grow the series.
SEVERITIES: Final = frozenset({"critical", "warning", "info"})

log = structlog.stdlib.get_logger("alert_receiver")


class NotificationMetrics:
    """The receiver's own counters, once per registry (a second app on the same registry, as
    in tests, shares them)."""

    _by_registry: dict[CollectorRegistry, NotificationMetrics] = {}

    def __init__(self, registry: CollectorRegistry) -> None:
        self.alerts = Counter(
            "alert_receiver_alerts",
            "Alerts received from Alertmanager, one per alert of each notification, by status "
            "(firing, resolved) and severity label (critical, warning, info, none, other).",
            ["status", "severity"],
            registry=registry,
        )
        self.truncated = Counter(
            "alert_receiver_truncated_alerts",
            "Alerts Alertmanager left out of notifications (webhook max_alerts; truncatedAlerts).",
            registry=registry,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> NotificationMetrics:
        metrics = cls._by_registry.get(registry)
        if metrics is None:
            metrics = cls(registry)
            cls._by_registry[registry] = metrics
        return metrics


def _bounded(value: str) -> str:
    if len(value) <= MAX_VALUE_CHARS:
        return value
    return f"{value[:MAX_VALUE_CHARS]}…[{len(value) - MAX_VALUE_CHARS} more characters]"


def _safe_pairs(pairs: Mapping[str, str]) -> dict[str, str]:
    return {name: _bounded(str(value)) for name, value in sorted(redact(pairs).items())}


def _json_object(pairs: Mapping[str, str]) -> str:
    """``pairs`` as compact JSON of at most MAX_MAP_BYTES, the pairs past that left out."""
    kept: dict[str, str] = {}
    size = 2  # {}
    for index, (name, value) in enumerate(pairs.items()):
        # One pair's share: "name":"value" plus a comma, escapes included.
        item = len(json.dumps({name: value}, ensure_ascii=False).encode()) - 1
        if size + item > MAX_MAP_BYTES - 64:  # room for the marker
            kept[OMITTED] = f"{len(pairs) - index} more left out"
            break
        kept[name] = value
        size += item
    return json.dumps(kept, ensure_ascii=False, separators=_JSON_SEPARATORS)


def _link(value: str) -> str:
    """A URL fit to be a clickable link, or "": an absolute http(s) URL, or a path on the
    same site (``/d/<dashboard uid>?viewPanel=2``, which Grafana opens in itself). Anything
    else (``javascript:``, ``//host``, a relative path) is not a link."""
    if len(value) > MAX_VALUE_CHARS:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme in {"http", "https"} and parts.netloc:
        return redact_url(value)
    if not parts.scheme and not parts.netloc and value.startswith("/") and value[1:2] != "/":
        return redact_url(value)
    return ""


def _timestamp(moment: datetime) -> str:
    if moment.year == 1:  # Go's zero time.Time: not set
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_fields(alert: Alert) -> dict[str, str]:
    """The fields of the log line for one alert."""
    labels = _safe_pairs(alert.labels)
    annotations = _safe_pairs(alert.annotations)
    return {
        "alert_status": alert.status,
        "alertname": labels.get("alertname", ""),
        "severity": labels.get("severity", ""),
        "alert_summary": annotations.get("summary", ""),
        "runbook_url": _link(annotations.get("runbook_url", "")),
        "dashboard_url": _link(annotations.get("dashboard_url", "")),
        "alert_labels": _json_object(labels),
        "alert_annotations": _json_object(annotations),
        "alert_starts_at": _timestamp(alert.starts_at),
        "alert_ends_at": _timestamp(alert.ends_at),
        "alert_fingerprint": alert.fingerprint,
    }


def _severity(fields: Mapping[str, str]) -> str:
    severity = fields["severity"]
    if not severity:
        return "none"
    return severity if severity in SEVERITIES else "other"


def record_notification(
    notification: Notification, metrics: NotificationMetrics, tracer: Tracer
) -> int:
    """Log one line per alert and count them, inside one span; the number of alerts. The span
    carries counts only, never a label."""
    with tracer.start_as_current_span("alert_receiver.notification") as span:
        span.set_attribute("alertmanager.notification.status", notification.status)
        span.set_attribute("alertmanager.notification.alerts", len(notification.alerts))
        span.set_attribute(
            "alertmanager.notification.truncated_alerts", notification.truncated_alerts
        )
        for alert in notification.alerts:
            fields = alert_fields(alert)
            if alert.status == "firing":
                log.warning(EVENT, **fields)
            else:
                log.info(EVENT, **fields)
            metrics.alerts.labels(status=alert.status, severity=_severity(fields)).inc()
        if notification.truncated_alerts:
            metrics.truncated.inc(notification.truncated_alerts)
    return len(notification.alerts)

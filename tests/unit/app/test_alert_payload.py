"""The receiver's reading of Alertmanager's webhook payload, and the fields of its log line."""

from __future__ import annotations

import json

import pytest

from alert_receiver.notifications import MAX_MAP_BYTES, MAX_VALUE_CHARS, OMITTED, alert_fields
from alert_receiver.payload import (
    MAX_ALERTS,
    MAX_NAME_CHARS,
    MAX_PAIRS,
    Notification,
    PayloadProblem,
    parse_notification,
    request_schema,
)
from tests.support.alert_payloads import (
    DASHBOARD,
    EXTERNAL_URL,
    PLANTED,
    RUNBOOK,
    alert,
    notification,
)


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def problem(raw: bytes) -> PayloadProblem:
    with pytest.raises(PayloadProblem) as caught:
        parse_notification(raw)
    return caught.value


# --- what is read -----------------------------------------------------------------------------


def test_reads_alertmanagers_payload() -> None:
    parsed = parse_notification(body(notification(alert(), alert(status="resolved"))))
    assert parsed.version == "4"
    assert parsed.status == "firing"
    assert [a.status for a in parsed.alerts] == ["firing", "resolved"]
    first = parsed.alerts[0]
    assert first.labels["alertname"] == "HttpHighErrorRatio"
    assert first.annotations["runbook_url"] == RUNBOOK
    assert first.fingerprint == "4f0e6c8a1b2d3e5f"
    assert first.starts_at.isoformat() == "2026-11-30T10:00:00.123456+00:00"


def test_fields_it_never_logs_stay_out_of_repr_and_dumps() -> None:
    parsed = parse_notification(body(notification()))
    assert parsed.external_url == EXTERNAL_URL  # read, so its type is checked
    shown = repr(parsed) + json.dumps(parsed.model_dump(mode="json", by_alias=True))
    for secret in PLANTED:
        assert secret not in shown, secret


def test_unknown_fields_of_newer_releases_are_ignored() -> None:
    document = notification()
    document["notification_reason"] = "new_alerts"  # added after 0.33 (template.go Data)
    document["alerts"][0]["somethingNew"] = {"nested": True}
    assert len(parse_notification(body(document)).alerts) == 1


def test_gos_zero_time_and_nanoseconds_parse() -> None:
    document = notification(alert())
    document["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    fields = alert_fields(parse_notification(body(document)).alerts[0])
    assert fields["alert_ends_at"] == ""
    assert fields["alert_starts_at"] == "2026-11-30T10:00:00.123456Z"


# --- what is refused --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{", b"", b"not json", b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000, b"1" * 10_000],
    ids=["truncated", "empty", "text", "bad-utf8", "deep-nesting", "huge-number"],
)
def test_malformed_json_is_a_400(raw: bytes) -> None:
    found = problem(raw)
    assert (found.status, found.slug) == (400, "malformed-json")


@pytest.mark.parametrize("version", ["3", "5", 4, None])
def test_another_version_is_a_422_that_does_not_quote_it(version: object) -> None:
    document = notification()
    document["version"] = version
    found = problem(body(document))
    assert (found.status, found.slug) == (422, "unsupported-version")
    assert found.detail == "This receiver reads version 4 of Alertmanager's webhook payload."


def test_wrong_shapes_are_422_naming_the_fields() -> None:
    document = notification(alert())
    del document["alerts"][0]["startsAt"]
    document["alerts"][0]["status"] = "burning"
    document["alerts"][0]["fingerprint"] = "not-hex"
    document["alerts"][0]["endsAt"] = 1767225600  # Unix seconds: pydantic's lax mode would take it
    document["status"] = 7
    found = problem(body(document))
    assert (found.status, found.slug) == (422, "invalid-notification")
    assert {e["field"] for e in found.errors} == {
        "alerts.0.startsAt",
        "alerts.0.status",
        "alerts.0.fingerprint",
        "alerts.0.endsAt",
        "status",
    }
    assert "burning" not in json.dumps(found.errors) + found.detail
    assert "not-hex" not in json.dumps(found.errors) + found.detail


@pytest.mark.parametrize(
    "document",
    [[], "a string", {"version": "4"}, {"version": "4", "status": "firing", "alerts": []}],
    ids=["list", "string", "no-alerts-key", "empty-alerts"],
)
def test_json_that_is_no_notification_is_a_422(document: object) -> None:
    assert problem(body(document)).status == 422


def test_sender_chosen_names_are_never_echoed() -> None:
    hostile = "x" * (MAX_NAME_CHARS + 1)
    document = notification(alert(labels={hostile: "v"}))
    document["commonLabels"] = {"bad": 5}
    found = problem(body(document))
    fields = {e["field"] for e in found.errors}
    assert fields == {"alerts.0.labels.*.[key]", "commonLabels.*"}
    assert hostile not in found.detail + json.dumps(found.errors)


def test_limits_on_names_pairs_and_alerts() -> None:
    at_limit = {f"l{i}": "v" for i in range(MAX_PAIRS - 3)}  # plus alertname, app_name, severity
    assert parse_notification(body(notification(alert(labels=at_limit))))
    over = {f"l{i}": "v" for i in range(MAX_PAIRS)}
    assert problem(body(notification(alert(labels=over)))).status == 422
    name_at_limit = {"n" * MAX_NAME_CHARS: "v"}
    assert parse_notification(body(notification(alert(annotations=name_at_limit))))
    many = notification(*[alert(fingerprint=f"{i:016x}") for i in range(MAX_ALERTS + 1)])
    found = problem(body(many))
    assert [e["field"] for e in found.errors] == ["alerts"]


def test_at_most_twenty_errors_are_reported() -> None:
    document = notification(*[alert(fingerprint="bad!") for _ in range(50)])
    assert len(problem(body(document)).errors) == 20


def test_truncated_alerts_is_a_count() -> None:
    document = notification()
    document["truncatedAlerts"] = "3"
    assert problem(body(document)).errors[0]["field"] == "truncatedAlerts"
    document["truncatedAlerts"] = 3
    assert parse_notification(body(document)).truncated_alerts == 3


# --- the log line's fields --------------------------------------------------------------------


def test_log_fields_of_an_alert() -> None:
    parsed = parse_notification(body(notification(alert(labels={"api_key": "k-123"}))))
    fields = alert_fields(parsed.alerts[0])
    assert fields["alert_status"] == "firing"
    assert fields["alertname"] == "HttpHighErrorRatio"
    assert fields["severity"] == "critical"
    assert fields["runbook_url"] == RUNBOOK
    assert fields["dashboard_url"] == DASHBOARD
    assert fields["alert_summary"] == "loan-api answers 12.5% of requests with 5xx"
    assert fields["alert_fingerprint"] == "4f0e6c8a1b2d3e5f"
    labels = json.loads(fields["alert_labels"])
    assert labels == {
        "alertname": "HttpHighErrorRatio",
        "api_key": "[REDACTED]",
        "app_name": "loan-api",
        "severity": "critical",
    }
    assert list(labels) == sorted(labels)
    assert json.loads(fields["alert_annotations"])["runbook_url"] == RUNBOOK
    assert "k-123" not in json.dumps(fields)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("javascript:alert(1)", ""),
        ("JavaScript:alert(1)", ""),
        ("docs/runbooks.md#x", ""),
        ("//evil.example/x", ""),
        ("ftp://host/x", ""),
        ("/d/loan-desk-logs/logs?viewPanel=3", "/d/loan-desk-logs/logs?viewPanel=3"),
        ("https://user:pw@wiki.example/x?token=t1&page=2", "https://[REDACTED]@wiki.example/x"),
        ("https://wiki.example/" + "p" * MAX_VALUE_CHARS, ""),
    ],
)
def test_only_http_urls_and_site_paths_become_links(url: str, shown: str) -> None:
    parsed = parse_notification(body(notification(alert(annotations={"runbook_url": url}))))
    link = alert_fields(parsed.alerts[0])["runbook_url"]
    assert link.startswith(shown) if shown else link == ""
    assert "pw" not in link
    assert "t1" not in link


def test_huge_values_are_cut_with_a_marker() -> None:
    huge = "v" * 200_000
    parsed = parse_notification(
        body(notification(alert(labels={"instance": huge}, annotations={"description": huge})))
    )
    fields = alert_fields(parsed.alerts[0])
    instance = json.loads(fields["alert_labels"])["instance"]
    assert instance == "v" * MAX_VALUE_CHARS + f"…[{200_000 - MAX_VALUE_CHARS} more characters]"
    assert len(json.dumps(fields)) < 4 * MAX_VALUE_CHARS + 2000


def test_worst_case_line_stays_under_lokis_structured_metadata_limit() -> None:
    # Loki's max_structured_metadata_size defaults to 64 KB: the biggest line the limits allow.
    pairs = {f"{i:03d}".rjust(MAX_NAME_CHARS, "n"): "\u00e9" * 10_000 for i in range(MAX_PAIRS)}
    document = notification(alert())
    document["alerts"][0]["labels"] = pairs
    document["alerts"][0]["annotations"] = pairs
    fields = alert_fields(parse_notification(body(document)).alerts[0])
    assert len(json.dumps(fields, ensure_ascii=False).encode()) < 64 * 1024
    for name in ("alert_labels", "alert_annotations"):
        kept = json.loads(fields[name])
        assert len(fields[name].encode()) <= MAX_MAP_BYTES
        left_out = int(kept.pop(OMITTED).split()[0])
        assert len(kept) + left_out == MAX_PAIRS
        assert all(
            v == "\u00e9" * MAX_VALUE_CHARS + "…[9488 more characters]" for v in kept.values()
        )


def test_request_schema_is_self_contained() -> None:
    schema = json.dumps(request_schema())
    assert "$ref" not in schema
    assert "$defs" not in schema
    assert '"startsAt"' in schema
    assert Notification.model_fields["version"].annotation is not None


# --- settings ---------------------------------------------------------------------------------


def test_a_body_limit_below_a_notification_stops_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from alert_receiver.cli import main
    from alert_receiver.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("ALERT_RECEIVER_MAX_BODY_BYTES", "1024")
    try:
        assert main(["serve"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "alert-receiver: the configuration is not valid:"
    assert err[1].startswith("  ALERT_RECEIVER_MAX_BODY_BYTES: ")
    assert len(err) == 2

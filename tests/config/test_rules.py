"""Prometheus rule files: they load (promtool check rules), their unit tests pass (promtool
test rules), every alert has a summary, description, severity and a runbook section, and every
alert has a test case that expects it to fire."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support import dashboards as d
from tests.support import prom_rules as r
from tests.support.tools import require_executable

RULE_FILES = r.rule_files()
TEST_FILES = r.rule_test_files(r.RULE_TESTS)
RULE_DOCS = [r.load_yaml(p) for p in RULE_FILES]
TEST_DOCS = [r.load_yaml(p) for p in TEST_FILES]
ALERTS = r.alert_rules(RULE_DOCS)
ANCHORS = r.markdown_anchors(r.RUNBOOKS.read_text(encoding="utf-8"))
BOARDS = {board["uid"]: board for board in (d.load(p) for p in d.dashboard_files())}


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_executable("promtool")


def test_the_issue_alerts_exist() -> None:
    names = {a["alert"] for a in ALERTS}
    assert {
        "HttpHighErrorRatio",
        "HttpLatencyBudgetBurnFast",
        "HttpLatencyBudgetBurnSlow",
        "ServiceTargetDown",
        "TargetDown",
        "OtelCollectorRefusingTelemetry",
        "OtelCollectorDroppingTelemetry",
        "OtelCollectorExporterSendFailures",
        "LoanTaggerHighFailureRatio",
    } <= names


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(promtool: str, path: Path) -> None:
    ok, output = r.promtool(promtool, "check", "rules", str(path))
    assert ok, output


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(promtool: str, path: Path) -> None:
    ok, output = r.promtool(promtool, "test", "rules", path.name, cwd=path.parent)
    assert ok, output


def test_every_rule_file_is_tested() -> None:
    tested = {
        (path.parent / rule_file).resolve()
        for path, doc in zip(TEST_FILES, TEST_DOCS, strict=True)
        for rule_file in doc.get("rule_files", [])
    }
    assert {p.resolve() for p in RULE_FILES} <= tested


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a["alert"])
def test_alert_is_documented(alert: dict) -> None:
    assert r.alert_problems(alert, ANCHORS) == []


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a["alert"])
def test_dashboard_url_opens_an_existing_panel(alert: dict) -> None:
    assert r.dashboard_url_problems(alert, BOARDS) == []


def test_every_firing_test_case_checks_the_links() -> None:
    # The rendered annotations of every firing case, with the shipped external labels: the
    # links a notification carries are pinned by promtool, not only their templates.
    for doc in TEST_DOCS:
        for test in doc.get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                for alert in case.get("exp_alerts") or []:
                    annotations = alert.get("exp_annotations") or {}
                    assert set(annotations) == {
                        "summary",
                        "description",
                        "runbook_url",
                        "dashboard_url",
                    }, case["alertname"]
                    assert annotations["runbook_url"].startswith("https://"), case["alertname"]
                    assert "{{" not in annotations["dashboard_url"], case["alertname"]


def test_every_alert_has_a_firing_test_case() -> None:
    assert r.alerts_without_firing_test(ALERTS, TEST_DOCS) == []


def test_alert_names_are_unique() -> None:
    names = [a["alert"] for a in ALERTS]
    assert len(names) == len(set(names))


def test_latency_objective_reads_the_half_second_bucket() -> None:
    # The objective depends on a bucket boundary (docs/runbooks.md#latency-objective).
    text = (r.RULES / "http.yml").read_text(encoding="utf-8")
    assert 'le="0.5"' in text
    assert "latency-objective" in ANCHORS


# --- the checkers can fail ----------------------------------------------------------------------


def test_checker_reports_missing_annotations_and_runbook() -> None:
    bare = {"alert": "Bare", "expr": "up == 0", "labels": {"severity": "page"}}
    problems = r.alert_problems(bare, ANCHORS)
    assert len(problems) == 5, problems
    wrong_anchor = {
        "alert": "Wrong",
        "expr": "up == 0",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "s",
            "description": "d",
            "runbook_url": "{{ $externalLabels.runbooks_url }}#no-such-section",
            "dashboard_url": "{{ $externalLabels.grafana_url }}/d/loan-desk-pipeline?viewPanel=2",
        },
    }
    assert r.alert_problems(wrong_anchor, ANCHORS) == [
        "Wrong: docs/runbooks.md has no section #no-such-section"
    ]
    relative = dict(
        wrong_anchor,
        annotations=wrong_anchor["annotations"] | {"runbook_url": "docs/runbooks.md#targetdown"},
    )
    assert len(r.alert_problems(relative, ANCHORS)) == 1


def test_checker_reports_a_dashboard_url_to_nowhere() -> None:
    def rule(url: str) -> dict:
        return {"alert": "A", "annotations": {"dashboard_url": url}}

    grafana = "{{ $externalLabels.grafana_url }}"
    service = "&var-service={{ $labels.app_name }}"
    assert r.dashboard_url_problems(rule(f"{grafana}/d/no-such-board?viewPanel=2"), BOARDS) != []
    assert (
        r.dashboard_url_problems(rule(f"{grafana}/d/loan-desk-pipeline?viewPanel=999"), BOARDS)
        != []
    )
    # The pipeline dashboard has no service picker.
    assert (
        r.dashboard_url_problems(
            rule(f"{grafana}/d/loan-desk-pipeline?viewPanel=2{service}"), BOARDS
        )
        != []
    )
    assert (
        r.dashboard_url_problems(
            rule("http://localhost:3000/d/loan-desk-pipeline?viewPanel=2"), BOARDS
        )
        != []
    )
    assert (
        r.dashboard_url_problems(
            rule(f"{grafana}/d/loan-desk-service-overview?viewPanel=17{service}"), BOARDS
        )
        == []
    )


def test_checker_reports_an_alert_without_firing_test() -> None:
    silent_only = [
        {"tests": [{"alert_rule_test": [{"alertname": "HttpHighErrorRatio", "exp_alerts": []}]}]}
    ]
    missing = r.alerts_without_firing_test(ALERTS, silent_only)
    assert "HttpHighErrorRatio" in missing


def test_markdown_anchors_follow_github() -> None:
    anchors = r.markdown_anchors("# Runbooks\n## `HttpHighErrorRatio`\n## Latency objective\n")
    assert {"runbooks", "httphigherrorratio", "latency-objective"} <= anchors


def test_promtool_test_fails_on_a_wrong_expectation(promtool: str, tmp_path: Path) -> None:
    # A test that expects the error-ratio alert on healthy traffic must fail.
    (tmp_path / "rules.yml").write_text((r.RULES / "http.yml").read_text(), encoding="utf-8")
    wrong = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'http_request_duration_seconds_count{app_name="loan-api",'
                        ' route="/api/v1/applications", status_code="201"}',
                        "values": "0+60x30",
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "20m",
                        "alertname": "HttpHighErrorRatio",
                        "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "wrong_test.yml").write_text(yaml.safe_dump(wrong), encoding="utf-8")
    ok, output = r.promtool(promtool, "test", "rules", "wrong_test.yml", cwd=tmp_path)
    assert not ok
    assert "HttpHighErrorRatio" in output


def test_promtool_check_fails_on_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    broken = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(rate(x[5m])"}]}]}
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    ok, _ = r.promtool(promtool, "check", "rules", str(path))
    assert not ok

"""Checks for the Prometheus rule files (prometheus/rules) and their promtool tests
(prometheus/tests), as small functions returning problems, usable on real and broken files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "prometheus" / "rules"
RULE_TESTS = ROOT / "prometheus" / "tests"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

SEVERITIES = frozenset({"critical", "warning", "info"})
# Convention (docs/runbooks.md): a notification's links are absolute. runbook_url is the runbooks
# page on the forge (the `runbooks_url` external label in prometheus/prometheus.yml) and the
# anchor of the alert's section; dashboard_url opens one panel of a dashboard in Grafana (the
# `grafana_url` external label), for the alert's service when the dashboard has a service picker.
RUNBOOK_URL = re.compile(r"^\{\{ \$externalLabels\.runbooks_url \}\}#([a-z0-9-]+)$")
DASHBOARD_URL = re.compile(
    r"^\{\{ \$externalLabels\.grafana_url \}\}/d/(?P<uid>[a-z0-9-]+)\?viewPanel=(?P<panel>\d+)"
    r"(?P<service>&var-service=\{\{ \$labels\.app_name \}\})?$"
)

Json = dict[str, Any]


def rule_files(directory: Path = RULES) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def rule_test_files(directory: Path = RULE_TESTS) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def load_yaml(path: Path) -> Json:
    data: Json = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data


def alert_rules(docs: list[Json]) -> list[Json]:
    return [
        rule
        for doc in docs
        for group in doc.get("groups") or []
        for rule in group.get("rules") or []
        if "alert" in rule
    ]


def recorded_names(docs: list[Json]) -> set[str]:
    return {
        rule["record"]
        for doc in docs
        for group in doc.get("groups") or []
        for rule in group.get("rules") or []
        if "record" in rule
    }


def markdown_anchors(markdown: str) -> set[str]:
    """Anchors GitHub generates for headings, plus explicit <a id="..."> ones."""
    anchors = set(re.findall(r'<a\s+(?:id|name)="([^"]+)"', markdown))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, flags=re.MULTILINE):
        text = re.sub(r"`", "", heading).strip().lower()
        text = re.sub(r"[^\w\- ]", "", text)
        anchors.add(text.replace(" ", "-"))
    return anchors


def alert_problems(rule: Json, anchors: set[str]) -> list[str]:
    name = rule.get("alert", "?")
    problems = []
    severity = (rule.get("labels") or {}).get("severity")
    if severity not in SEVERITIES:
        problems.append(f"{name}: severity label {severity!r} is not one of {sorted(SEVERITIES)}")
    annotations = rule.get("annotations") or {}
    for key in ("summary", "description", "runbook_url", "dashboard_url"):
        if not str(annotations.get(key, "")).strip():
            problems.append(f"{name}: no `{key}` annotation")
    url = str(annotations.get("runbook_url", ""))
    match = RUNBOOK_URL.match(url)
    if url and not match:
        problems.append(
            f"{name}: runbook_url {url!r} is not {{{{ $externalLabels.runbooks_url }}}}#<anchor>"
        )
    elif match and match.group(1) not in anchors:
        problems.append(f"{name}: docs/runbooks.md has no section #{match.group(1)}")
    return problems


def dashboard_url_problems(rule: Json, boards: dict[str, Json]) -> list[str]:
    """dashboard_url opens an existing panel of an existing dashboard (uid -> dashboard JSON),
    and picks the alert's service only on a dashboard with a `service` variable. (That the
    alert has the app_name it picks is shown by the rendered URLs in prometheus/tests.)"""
    name = rule.get("alert", "?")
    url = str((rule.get("annotations") or {}).get("dashboard_url", ""))
    match = DASHBOARD_URL.match(url)
    if not match:
        expected = "{{ $externalLabels.grafana_url }}/d/<uid>?viewPanel=<id>"
        return [f"{name}: dashboard_url {url!r} is not {expected}"]
    board = boards.get(match["uid"])
    if board is None:
        return [f"{name}: no dashboard with uid {match['uid']!r}"]
    if int(match["panel"]) not in panel_titles(board):
        return [f"{name}: dashboard {match['uid']} has no panel {match['panel']}"]
    has_picker = any(
        v.get("name") == "service" for v in board.get("templating", {}).get("list", [])
    )
    if match["service"] and not has_picker:
        return [f"{name}: dashboard {match['uid']} has no `service` variable to pick"]
    return []


def panel_titles(board: Json) -> dict[int, str]:
    """panel id -> title, rows and the panels of collapsed rows included."""
    titles = {}
    for panel in board.get("panels", []):
        titles[int(panel["id"])] = str(panel.get("title", ""))
        for inner in panel.get("panels", []):
            titles[int(inner["id"])] = str(inner.get("title", ""))
    return titles


def dashboard_panel(rule: Json) -> tuple[str, int] | None:
    match = DASHBOARD_URL.match(str((rule.get("annotations") or {}).get("dashboard_url", "")))
    return (match["uid"], int(match["panel"])) if match else None


def alerts_expected_firing(test_docs: list[Json]) -> set[str]:
    """Alert names that some promtool test case expects to fire."""
    return {
        case["alertname"]
        for doc in test_docs
        for test in doc.get("tests") or []
        for case in test.get("alert_rule_test") or []
        if case.get("exp_alerts")
    }


def alerts_without_firing_test(rules: list[Json], test_docs: list[Json]) -> list[str]:
    tested = alerts_expected_firing(test_docs)
    return sorted({r["alert"] for r in rules} - tested)


def promtool(promtool_path: str, *args: str, cwd: Path | None = None) -> tuple[bool, str]:
    result = subprocess.run(
        [promtool_path, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
    )
    return result.returncode == 0, result.stdout + result.stderr

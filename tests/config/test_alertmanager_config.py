"""alertmanager/alertmanager.yml: Debian's `amtool check-config` (Alertmanager 0.25) loads it, the
receiver is the contract with the alert-receiver service, every severity the rules use has its
route, and the inhibitions are the ones docs/runbooks.md describes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import alerting as al
from tests.support import prom_rules as r

CONFIG = al.ALERTMANAGER_CONFIG
RULES = r.alert_rules([r.load_yaml(p) for p in r.rule_files()])
TEST_DOCS = [r.load_yaml(p) for p in r.rule_test_files()]


def labels_in_tests(alertname: str) -> set[str]:
    """The labels promtool sees on the alert when it fires (its firing test cases)."""
    return {
        label
        for doc in TEST_DOCS
        for test in doc.get("tests") or []
        for case in test.get("alert_rule_test") or []
        if case["alertname"] == alertname
        for alert in case.get("exp_alerts") or []
        for label in alert.get("exp_labels") or {}
    }


@pytest.fixture(scope="module")
def amtool() -> str:
    return al.require_alertmanager_tool("amtool")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return loaded


def check_config(amtool: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_amtool_accepts_the_config(amtool: str) -> None:
    result = check_config(amtool, CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_rejects_an_unknown_key(amtool: str, tmp_path: Path) -> None:
    # The check is strict: a misspelt key fails, so the test above proves every key is known.
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(CONFIG.read_text().replace("group_wait:", "group_waiting:", 1))
    result = check_config(amtool, broken)
    assert result.returncode != 0
    assert "group_waiting" in result.stdout + result.stderr


def test_amtool_rejects_a_key_newer_than_0_25(amtool: str, tmp_path: Path) -> None:
    # Webhook `timeout` exists since 0.28 (config/notifiers.go): the 0.25 check is a real guard.
    newer = tmp_path / "alertmanager.yml"
    newer.write_text(
        CONFIG.read_text().replace(
            "send_resolved: true", "send_resolved: true\n        timeout: 10s"
        )
    )
    assert check_config(amtool, newer).returncode != 0


def test_the_webhook_is_the_receiver_contract(config: dict[str, Any]) -> None:
    (receiver,) = config["receivers"]
    assert receiver["name"] == config["route"]["receiver"] == "alert-receiver"
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == al.RECEIVER_URL
    assert webhook["send_resolved"] is True
    assert set(receiver) == {"name", "webhook_configs"}


def test_alerts_are_grouped_by_alert_and_service(config: dict[str, Any]) -> None:
    assert config["route"]["group_by"] == ["alertname", "app_name", "job"]
    # Every alert names its service: app_name (services) or job (stack components).
    for rule in RULES:
        labels = set(rule.get("labels") or {}) | labels_in_tests(rule["alert"])
        assert labels & {"app_name", "job"}, rule["alert"]


def test_every_severity_has_its_route(config: dict[str, Any]) -> None:
    routes = {tuple(route["matchers"]): route for route in config["route"]["routes"]}
    severities = {rule["labels"]["severity"] for rule in RULES}
    assert {(f'severity="{s}"',) for s in severities} == set(routes)
    critical, warning = routes[('severity="critical"',)], routes[('severity="warning"',)]
    # A page goes out sooner, is updated sooner and comes back sooner than a warning.
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert al.seconds(critical[key]) < al.seconds(warning[key]), key
    for route in routes.values():
        assert route["receiver"] == "alert-receiver"
        assert "continue" not in route


def test_inhibitions(config: dict[str, Any]) -> None:
    rules = config["inhibit_rules"]
    assert [(rule["source_matchers"], rule["equal"]) for rule in rules] == [
        (['alertname="ServiceTargetDown"'], ["app_name"]),
        (['alertname="TargetDown"'], ["job"]),
    ]
    # A collector that drops data silences nothing: no collector alert is a source.
    sources = " ".join(m for rule in rules for m in rule["source_matchers"])
    assert "OtelCollector" not in sources


def test_no_route_or_inhibition_names_an_unknown_alert(config: dict[str, Any]) -> None:
    names = {rule["alert"] for rule in RULES}
    text = yaml.safe_dump(config["inhibit_rules"])
    for token in ("ServiceTargetDown", "TargetDown"):
        assert token in names
        assert token in text

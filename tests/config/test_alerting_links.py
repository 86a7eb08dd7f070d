"""Where a notification's links point, set once: the external labels of prometheus/prometheus.yml
against the repository URL (pyproject.toml) and Grafana's published port (compose.yaml), the
alerting block against the job -> service names, and the tiers' config rewrite against the
rule "only addresses change"."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.config import stackfiles as sf
from tests.support import alerting as al
from tests.support import prom_rules as r

PYPROJECT = sf.ROOT / "pyproject.toml"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = sf.load_yaml(sf.PROMETHEUS_CONFIG)
    return loaded


def test_runbooks_are_the_repository_docs(config: dict[str, Any]) -> None:
    urls = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["urls"]
    labels = config["global"]["external_labels"]
    assert labels["runbooks_url"] == urls["Repository"] + "/blob/main/docs/runbooks.md"
    assert labels["runbooks_url"].startswith("https://")


def test_grafana_url_is_where_compose_publishes_grafana(config: dict[str, Any]) -> None:
    compose = sf.load_compose({"POSTGRES_PASSWORD": "x", "GF_SECURITY_ADMIN_PASSWORD": "x"})
    ports = [p for p in compose["services"]["grafana"]["ports"] if str(p).endswith(":3000")]
    (published,) = ports
    host_port = str(published).split(":")[-2]
    assert config["global"]["external_labels"]["grafana_url"] == f"http://localhost:{host_port}"


def test_the_link_labels_never_reach_alertmanager(config: dict[str, Any]) -> None:
    relabels = config["alerting"]["alert_relabel_configs"]
    (drop,) = [rc for rc in relabels if rc.get("action") == "labeldrop"]
    assert set(drop["regex"].split("|")) == set(config["global"]["external_labels"])


def test_target_down_alerts_get_the_service_name_of_their_job(config: dict[str, Any]) -> None:
    compose = sf.load_compose({"POSTGRES_PASSWORD": "x", "GF_SECURITY_ADMIN_PASSWORD": "x"})
    pairs = {
        rc["regex"]: rc["replacement"]
        for rc in config["alerting"]["alert_relabel_configs"]
        if rc.get("target_label") == "app_name"
    }
    # The jobs ServiceTargetDown watches, each mapped to the OTEL_SERVICE_NAME of its service.
    assert set(pairs) == {"api", "tagger"}
    for job, service_name in pairs.items():
        assert compose["services"][job]["environment"]["OTEL_SERVICE_NAME"] == service_name
    down = [
        rule
        for rule in r.alert_rules([r.load_yaml(p) for p in r.rule_files()])
        if rule["alert"] == "ServiceTargetDown"
    ]
    assert 'job=~"api|tagger"' in down[0]["expr"]


def test_prometheus_sends_to_the_alertmanager_service(config: dict[str, Any]) -> None:
    (am,) = config["alerting"]["alertmanagers"]
    assert am["api_version"] == "v2"
    assert am["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_rule_tests_render_with_the_shipped_labels(config: dict[str, Any]) -> None:
    shipped = config["global"]["external_labels"]
    for path in r.rule_test_files():
        for test in r.load_yaml(path).get("tests") or []:
            if "external_labels" in test:
                assert test["external_labels"] == shipped, path.name


def test_the_rewrite_changes_addresses_only() -> None:
    targets = {
        "api": ["127.0.0.1:1", "127.0.0.1:2"],
        "tagger": ["127.0.0.1:3"],
        "prometheus": ["127.0.0.1:4"],
    }
    prometheus = al.prometheus_config(targets, "127.0.0.1:5")
    assert al.only_addresses_differ(al.PROMETHEUS_CONFIG, prometheus)
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"] == [
        {"targets": ["127.0.0.1:5"]}
    ]
    assert {job["job_name"] for job in prometheus["scrape_configs"]} == set(targets)
    alertmanager = al.alertmanager_config("http://127.0.0.1:6/v1/notifications")
    assert al.only_addresses_differ(al.ALERTMANAGER_CONFIG, alertmanager)
    # And it can tell: a changed interval or receiver setting is not an address.
    prometheus["global"]["evaluation_interval"] = "1s"
    assert not al.only_addresses_differ(al.PROMETHEUS_CONFIG, prometheus)
    alertmanager["receivers"][0]["webhook_configs"][0]["send_resolved"] = False
    assert not al.only_addresses_differ(al.ALERTMANAGER_CONFIG, alertmanager)
    with pytest.raises(ValueError, match="tagger"):
        al.prometheus_config({"api": ["a:1", "b:2"], "prometheus": ["c:3"]}, "d:4")

"""prometheus/prometheus.yml: promtool (Debian's 2.42, so 3.x-only keys fail), jobs, targets."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.config import stackfiles as sf
from tests.support.tools import require_executable

# Settings that Prometheus 3.x accepts but 2.42 rejects; they belong in compose.yaml flags or
# nowhere (stack-facts: keep the YAML loadable by Debian's promtool).
THREE_X_ONLY_KEYS = {
    "otlp",
    "scrape_protocols",
    "scrape_native_histograms",
    "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "runtime",
}


def promtool_check_config(config: Path) -> subprocess.CompletedProcess[str]:
    promtool = require_executable("promtool")
    return subprocess.run(
        [promtool, "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return sf.load_yaml(sf.PROMETHEUS_CONFIG)


def test_promtool_accepts_the_config_and_its_rule_files() -> None:
    # rule_files is relative to the config, so the rules in prometheus/rules are checked too
    # (whether or not any exist yet).
    result = promtool_check_config(sf.PROMETHEUS_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "prometheus.yml"
    broken.write_text(
        sf.PROMETHEUS_CONFIG.read_text().replace("scrape_interval:", "scrape_intervall:", 1)
    )
    result = promtool_check_config(broken)
    assert result.returncode != 0
    assert "scrape_intervall" in result.stdout + result.stderr


def test_promtool_rejects_a_3x_only_key(tmp_path: Path) -> None:
    # Proves the 2.42 check is a real guard: this key loads in 3.x, not in 2.42.
    broken = tmp_path / "prometheus.yml"
    broken.write_text(
        sf.PROMETHEUS_CONFIG.read_text().replace(
            "scrape_timeout: 10s", "scrape_timeout: 10s\n  scrape_protocols: [OpenMetricsText1.0.0]"
        )
    )
    assert promtool_check_config(broken).returncode != 0


def test_promtool_rejects_a_broken_rule_file(tmp_path: Path) -> None:
    shutil.copy(sf.PROMETHEUS_CONFIG, tmp_path / "prometheus.yml")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.yml").write_text(
        "groups:\n  - name: bad\n    rules:\n      - record: x\n        expr: rate(\n"
    )
    assert promtool_check_config(tmp_path / "prometheus.yml").returncode != 0


def test_no_3x_only_keys_in_the_yaml(config: dict[str, Any]) -> None:
    found = {path for path, _ in sf.walk(config) if path.rsplit(".", 1)[-1] in THREE_X_ONLY_KEYS}
    assert found == set()


def test_rule_files_are_loaded_from_the_mounted_rules_folder(config: dict[str, Any]) -> None:
    assert config["rule_files"] == ["rules/*.yml"]
    raw = sf.load_compose({"POSTGRES_PASSWORD": "x", "GF_SECURITY_ADMIN_PASSWORD": "x"})
    volumes = raw["services"]["prometheus"]["volumes"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in volumes


def test_job_names_are_the_contract(config: dict[str, Any]) -> None:
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert len(jobs) == len(set(jobs))
    assert set(jobs) == sf.architecture_jobs()


def test_each_job_scrapes_its_own_service_on_a_documented_port(config: dict[str, Any]) -> None:
    contract = sf.architecture_services()
    for job in config["scrape_configs"]:
        targets = [t for static in job["static_configs"] for t in static["targets"]]
        # One target per job, except the api's canary (the same service, another version).
        expected = 2 if job["job_name"] == "api" else 1
        assert len(targets) == expected, job["job_name"]
        for target in targets:
            host, port = sf.endpoint_hostport(target)
            if job["job_name"] == "prometheus":
                assert (host, port) == ("localhost", 9090)
                continue
            assert host in (job["job_name"], f"{job['job_name']}-canary"), (
                "job name and compose service name are the same"
            )
            assert port in contract[host]["network_ports"], target


def test_the_canary_is_scraped_in_the_api_job(config: dict[str, Any]) -> None:
    (api,) = [job for job in config["scrape_configs"] if job["job_name"] == "api"]
    assert api["static_configs"][0]["targets"] == ["api:8000", "api-canary:8000"]
    compose = sf.load_compose({})
    assert compose["services"]["api-canary"]["command"][-1] == "8000"


def test_3x_features_are_enabled_by_flags() -> None:
    compose = sf.load_compose({"POSTGRES_PASSWORD": "x", "GF_SECURITY_ADMIN_PASSWORD": "x"})
    command = compose["services"]["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in command  # Tempo's metrics generator
    assert "--enable-feature=exemplar-storage" in command
    assert "--config.file=/etc/prometheus/prometheus.yml" in command

"""prometheus/prometheus.yml: promtool (Debian's 2.42, so 3.x-only keys fail), jobs, targets."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.config import stackfiles as sf
from tests.support.prometheus import prometheus_with_config
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


@pytest.mark.parametrize("layer", sf.LAYERS)
def test_rule_files_are_loaded_from_the_mounted_rules_folder(
    config: dict[str, Any], layer: str
) -> None:
    assert config["rule_files"] == ["rules/*.yml"]
    raw = sf.load_compose({}, layer=layer)
    volumes = raw["services"]["prometheus"]["volumes"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in volumes


def test_job_names_are_the_contract(config: dict[str, Any]) -> None:
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert len(jobs) == len(set(jobs))
    assert set(jobs) == sf.architecture_jobs()


def test_each_job_scrapes_its_own_service_on_a_documented_port(config: dict[str, Any]) -> None:
    contract = sf.architecture_services()
    compose = sf.load_compose({})
    for job in config["scrape_configs"]:
        targets = sf.prometheus_job_targets(job, compose)
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
    compose = sf.load_compose({})
    assert sf.prometheus_job_targets(api, compose) == ["api:8000", "api-canary:8000"]
    assert compose["services"]["api-canary"]["command"][-1] == "8000"


@pytest.mark.parametrize("layer", sf.LAYERS)
def test_every_target_is_a_service_that_runs(config: dict[str, Any], layer: str) -> None:
    """No scrape target for a service that is not there: alone, the stack shows no api or tagger
    as down, because it finds no targets for them (their files are the app's to mount)."""
    compose = sf.load_compose({}, layer=layer)
    found = {
        job["job_name"]: sf.prometheus_job_targets(job, compose) for job in config["scrape_configs"]
    }
    hosts = {sf.endpoint_hostport(t)[0] for targets in found.values() for t in targets}
    assert hosts - {"localhost"} <= set(compose["services"])
    app_jobs = {"api": 2, "tagger": 1}
    for job, count in app_jobs.items():
        assert len(found[job]) == (count if layer == "full" else 0), (layer, job)
    # The stack's own jobs are the same either way.
    assert all(len(found[job]) == 1 for job in set(found) - set(app_jobs))


def test_the_app_jobs_read_file_sd_files_the_app_mounts(config: dict[str, Any]) -> None:
    override = sf.load_yaml(sf.APP_OVERRIDE_FILE)["services"]["prometheus"]["volumes"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in override}
    for job in config["scrape_configs"]:
        files = [f for sd in job.get("file_sd_configs") or [] for f in sd["files"]]
        if job["job_name"] in ("api", "tagger"):
            assert "static_configs" not in job
            assert files == [f"/etc/prometheus/{job['job_name']}.targets.yml"]
            assert mounted[files[0]] == f"./prometheus/targets/{job['job_name']}.yml"
        else:
            assert files == [], job["job_name"]
    assert {p.name for p in sf.PROMETHEUS_TARGETS.iterdir()} == {"api.yml", "tagger.yml"}


def test_promtool_reads_the_target_files(tmp_path: Path) -> None:
    """The files are valid file_sd (promtool checks each file a file_sd glob matches): the
    config with its file_sd paths pointed at the repo's files, as the app's mounts place them."""
    text = sf.PROMETHEUS_CONFIG.read_text()
    for job in ("api", "tagger"):
        text = text.replace(
            f"/etc/prometheus/{job}.targets.yml", str(sf.PROMETHEUS_TARGETS / f"{job}.yml")
        )
    shutil.copytree(sf.PROMETHEUS_CONFIG.parent / "rules", tmp_path / "rules")
    (tmp_path / "prometheus.yml").write_text(text)
    result = promtool_check_config(tmp_path / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    # And a broken target file fails it.
    broken = tmp_path / "api.yml"
    broken.write_text("- targets: api:8000\n")
    (tmp_path / "prometheus.yml").write_text(
        text.replace(str(sf.PROMETHEUS_TARGETS / "api.yml"), str(broken))
    )
    assert promtool_check_config(tmp_path / "prometheus.yml").returncode != 0


def test_the_stack_alone_leaves_the_app_files_unmatched() -> None:
    # What promtool says of the config as it is: the app's files are not there (a warning, not
    # an error), exactly as in the stack alone.
    result = promtool_check_config(sf.PROMETHEUS_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line.strip() for line in result.stdout.splitlines() if "WARNING" in line]
    assert warnings == [
        f'WARNING: file "/etc/prometheus/{job}.targets.yml" for file_sd in scrape job "{job}" '
        "does not exist"
        for job in ("api", "tagger")
    ]


def test_3x_features_are_enabled_by_flags() -> None:
    compose = sf.load_compose({}, layer="stack")
    command = compose["services"]["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in command  # Tempo's metrics generator
    assert "--enable-feature=exemplar-storage" in command
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


@pytest.mark.parametrize("with_app", [False, True], ids=["stack-alone", "with-app"])
def test_prometheus_finds_the_app_targets_only_where_the_app_mounts_them(
    tmp_path: Path, with_app: bool
) -> None:
    """The real Prometheus (Debian's 2.42) on the project's config, file_sd paths moved into a
    temporary /etc/prometheus: alone, the api and tagger jobs have no targets (nothing to be
    down); with the app's files where its compose layer mounts them, they have theirs."""
    etc = tmp_path / "etc"
    etc.mkdir()
    text = sf.PROMETHEUS_CONFIG.read_text().replace("/etc/prometheus/", f"{etc}/")
    if with_app:
        for job in ("api", "tagger"):
            shutil.copy(sf.PROMETHEUS_TARGETS / f"{job}.yml", etc / f"{job}.targets.yml")
    with prometheus_with_config(tmp_path, yaml.safe_load(text)) as prometheus:
        deadline = time.monotonic() + 30
        while True:
            targets = prometheus.get("/api/v1/targets")["activeTargets"]
            jobs = Counter(t["labels"]["job"] for t in targets)
            # Discovery is applied every few seconds: wait for the stack's own jobs first, and
            # with the app for both of its jobs (each file is a provider of its own: one can be
            # applied a round before the other).
            if set(jobs) >= {"loki", "tempo", "grafana"} and (
                not with_app or (jobs["api"] and jobs["tagger"])
            ):
                break
            assert time.monotonic() < deadline, dict(jobs)
            time.sleep(0.5)
        if with_app:
            assert (jobs["api"], jobs["tagger"]) == (2, 1)
            instances = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "api"}
            assert instances == {"api:8000", "api-canary:8000"}
        else:
            assert (jobs["api"], jobs["tagger"]) == (0, 0)
        assert "Error" not in prometheus.output(), prometheus.output()[-2000:]

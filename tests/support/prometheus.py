"""A real Prometheus (Debian's 2.42 binary) scraping the services with the project's own config.

`prometheus/prometheus.yml` is loaded and changed in the few places a machine without Docker
needs, nothing else:

- the static targets of the `api` and `tagger` jobs point at the local ports (the api job's
  `api-canary` target has no counterpart here and goes), the `prometheus` job at this
  Prometheus itself;
- jobs whose targets do not exist here (collector, Loki, Tempo, Grafana) are dropped;
- ``scrape_interval`` and ``evaluation_interval`` go from 15 s to 1 s, for test speed only: a
  rate needs two samples and a recording rule an evaluation, and a 15 s cycle would make the tier
  wait half a minute for each (``scrape_timeout`` follows, it may not exceed the interval);
- ``rule_files`` stays as it is: Prometheus resolves it relative to the config file's folder,
  so the rules folder is copied next to the rewritten config.

Flags are those of compose.yaml that 2.42 knows: ``--enable-feature=exemplar-storage``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.daemons import running_daemon
from tests.support.services import LOOPBACK
from tests.support.tools import free_port, require_executable

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "prometheus" / "prometheus.yml"
RULES = ROOT / "prometheus" / "rules"
TEST_INTERVAL = "1s"


def local_config(targets: Mapping[str, str], *, source: Path = CONFIG) -> dict[str, Any]:
    """The project's config with the targets of the jobs in ``targets`` (job -> host:port)
    rewritten and every other job dropped."""
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    kept = []
    for job in config.get("scrape_configs", []):
        if job["job_name"] not in targets:
            continue
        # One target per job in the project: static, or (the app's api and tagger) a file_sd
        # file the app's compose layer mounts; here one static target either way.
        assert len(job.get("static_configs", [])) + len(job.pop("file_sd_configs", [])) == 1, job
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        kept.append(job)
    missing = set(targets) - {job["job_name"] for job in kept}
    if missing:
        raise ValueError(f"jobs {sorted(missing)} are not in {source}")
    config["scrape_configs"] = kept
    config["global"]["scrape_interval"] = TEST_INTERVAL
    config["global"]["evaluation_interval"] = TEST_INTERVAL
    config["global"]["scrape_timeout"] = TEST_INTERVAL
    return config


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10.0)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {response.status_code} {body}")
        return body["data"]

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = at
        data = self.get("/api/v1/query", **params)
        result: list[dict[str, Any]] = data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return result

    def value(self, promql: str) -> float | None:
        """The single sample of an instant query, or None when there is none."""
        result = self.query(promql)
        if not result:
            return None
        assert len(result) == 1, (promql, result)
        return float(result[0]["value"][1])

    def values(self, selectors: Mapping[str, str] | list[str]) -> dict[str, float]:
        """selector -> current value, for those that have a sample."""
        out = {}
        for selector in selectors:
            value = self.value(selector)
            if value is not None:
                out[selector] = value
        return out

    def exemplars(self, promql: str, start: float, end: float) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.get(
            "/api/v1/query_exemplars", query=promql, start=start, end=end
        )
        return [e for series in data for e in series.get("exemplars", [])]

    def targets_up(self) -> dict[str, str]:
        data = self.get("/api/v1/targets")
        return {t["labels"]["job"]: t["health"] for t in data["activeTargets"]}

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.get("/api/v1/rules")["groups"]
        return groups

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_prometheus(
    tmp: Path, targets: Mapping[str, str], *, extra_jobs: Mapping[str, str] | None = None
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (job -> host:port, `prometheus` added automatically), and
    ``extra_jobs`` (job -> host:port): scrape jobs of services that are not in the project's
    config, such as another team's OpenTelemetry-instrumented service."""
    address = f"{LOOPBACK}:{free_port()}"
    config = local_config({**targets, "prometheus": address})
    config["scrape_configs"] += [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in (extra_jobs or {}).items()
    ]
    with prometheus_with_config(tmp, config, address) as running:
        yield running


@contextmanager
def prometheus_with_config(
    tmp: Path, config: Mapping[str, Any], address: str | None = None
) -> Iterator[Prometheus]:
    """Prometheus running ``config`` as given, with the project's rules beside it."""
    binary = require_executable("prometheus")
    address = address or f"{LOOPBACK}:{free_port()}"
    config_dir = tmp / "prometheus"
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(RULES, config_dir / "rules", dirs_exist_ok=True)
    config_path = config_dir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    url = f"http://{address}"
    argv = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address={address}",
        "--enable-feature=exemplar-storage",
        "--log.level=info",
    ]
    log = tmp / "prometheus.log"
    with running_daemon(
        "prometheus", argv, ready_url=f"{url}/-/ready", log=log, cwd=tmp
    ) as process:
        yield Prometheus(url, process, log)

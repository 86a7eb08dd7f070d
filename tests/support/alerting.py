"""Prometheus and Alertmanager as the stack configures them, on a machine without Docker.

The project's `prometheus/prometheus.yml` and `alertmanager/alertmanager.yml` are loaded and only
their addresses are rewritten (`prometheus_config`, `alertmanager_config`); `address_free` masks
the addresses so a test can assert that nothing else changed. One deviation, also checked: the
scrape jobs of components that do not run here (collector, Loki, Tempo, Grafana) are dropped,
since a target that cannot be reached would fire TargetDown.

Debian packages Alertmanager 0.25 as `prometheus-alertmanager` (server) and `amtool`.
`WebhookReceiver` stands in for the stack's alert-receiver: it records every notification with
the time it arrived.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.daemons import running_daemon
from tests.support.prometheus import Prometheus
from tests.support.services import LOOPBACK
from tests.support.tools import missing, require_executable

ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER_CONFIG = ROOT / "alertmanager" / "alertmanager.yml"
PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
RULES = ROOT / "prometheus" / "rules"
# The contract with the compose service `alert-receiver` (its port and path).
RECEIVER_URL = "http://alert-receiver:8003/v1/notifications"
RECEIVER_PATH = "/v1/notifications"
# Scrape jobs of stack components that the Docker-free tiers do not run.
# Jobs of components the tier does not run (the webhook receiver in the test stands in for
# alert-receiver; Alertmanager runs but its own metrics are not what a lesson measures).
ABSENT_JOBS = frozenset(
    {"otel-collector", "loki", "tempo", "grafana", "alertmanager", "alert-receiver"}
)
ADDRESS = "<address>"
# Prometheus and Alertmanager run below the services' CPU priority: on two cores shared by
# several stacks, the services' latency is what the rules measure.
NICE = ("nice", "-n", "10")

Json = dict[str, Any]


def require_alertmanager_tool(name: str) -> str:
    """`amtool` or the Alertmanager server (Debian: `prometheus-alertmanager`, upstream:
    `alertmanager`); skip locally, fail under CI."""
    candidates = ("prometheus-alertmanager", "alertmanager") if name == "alertmanager" else (name,)
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    missing(f"`{name}` is not installed (Debian: apt-get install prometheus-alertmanager)")


_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> float:
    """A Prometheus/Alertmanager duration of one unit ("15s", "2m", "12h") in seconds."""
    match = _DURATION.match(str(duration))
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    return int(match[1]) * _UNIT[match[2]]


# --- configs with their addresses rewritten ---------------------------------------------------


def _static_targets(job: Json) -> list[Json]:
    """A job's target groups: its static_configs, or for the app's file_sd jobs the groups of
    the target files the app's compose layer mounts (prometheus/targets/<job>.yml for
    /etc/prometheus/<job>.targets.yml)."""
    if "file_sd_configs" not in job:
        return list(job.get("static_configs") or [])
    groups: list[Json] = []
    for sd in job["file_sd_configs"]:
        for mounted in sd["files"]:
            name = Path(mounted).name.removesuffix(".targets.yml")
            source = ROOT / "prometheus" / "targets" / f"{name}.yml"
            groups += yaml.safe_load(source.read_text(encoding="utf-8"))
    return groups


def _as_static(job: Json) -> Json:
    """``job`` with its file_sd targets written in as static_configs (one group)."""
    groups = _static_targets(job)
    job.pop("file_sd_configs", None)
    job["static_configs"] = [{"targets": [t for g in groups for t in g["targets"]]}]
    return job


def prometheus_config(
    targets: Mapping[str, list[str]], alertmanager: str, *, source: Path = PROMETHEUS_CONFIG
) -> Json:
    """The project's config with the targets of every scrape job in ``targets`` replaced (one
    address for each address the job has), the jobs of absent components dropped, and the
    Alertmanager address replaced. Anything else raises: a job that is neither given nor
    absent, a different number of targets."""
    config: Json = yaml.safe_load(source.read_text(encoding="utf-8"))
    kept = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name in ABSENT_JOBS:
            continue
        if name not in targets:
            raise ValueError(f"no local address for scrape job {name!r}")
        (static,) = _as_static(job)["static_configs"]
        if len(static["targets"]) != len(targets[name]):
            raise ValueError(f"job {name}: {static['targets']} -> {targets[name]}")
        static["targets"] = list(targets[name])
        kept.append(job)
    config["scrape_configs"] = kept
    ((static,),) = [am["static_configs"] for am in config["alerting"]["alertmanagers"]]
    (_,) = static["targets"]
    static["targets"] = [alertmanager]
    return config


def alertmanager_config(receiver_url: str, *, source: Path = ALERTMANAGER_CONFIG) -> Json:
    config: Json = yaml.safe_load(source.read_text(encoding="utf-8"))
    urls = [
        webhook
        for receiver in config["receivers"]
        for webhook in receiver.get("webhook_configs") or []
    ]
    (webhook,) = urls
    webhook["url"] = receiver_url
    return config


def address_free(config: Json, *, drop_absent_jobs: bool = False) -> Json:
    """``config`` (Prometheus or Alertmanager) with every address it configures replaced by a
    placeholder: scrape targets, Alertmanager targets, webhook URLs."""
    masked = copy.deepcopy(config)
    if "scrape_configs" in masked:
        if drop_absent_jobs:
            masked["scrape_configs"] = [
                j for j in masked["scrape_configs"] if j["job_name"] not in ABSENT_JOBS
            ]
        for job in masked["scrape_configs"]:
            if "file_sd_configs" in job:
                _as_static(job)
            for static in job.get("static_configs") or []:
                static["targets"] = [ADDRESS for _ in static["targets"]]
        for am in masked.get("alerting", {}).get("alertmanagers") or []:
            for static in am.get("static_configs") or []:
                static["targets"] = [ADDRESS for _ in static["targets"]]
    for receiver in masked.get("receivers") or []:
        for webhook in receiver.get("webhook_configs") or []:
            webhook["url"] = ADDRESS
    return masked


def only_addresses_differ(original_path: Path, rewritten: Json) -> bool:
    original: Json = yaml.safe_load(original_path.read_text(encoding="utf-8"))
    return address_free(original, drop_absent_jobs=True) == address_free(rewritten)


# --- the notification receiver ----------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    received: float  # time.monotonic()
    payload: Json

    def alerts(self) -> list[Json]:
        alerts: list[Json] = self.payload.get("alerts") or []
        return alerts


@dataclass
class WebhookReceiver:
    """Alertmanager's webhook target: POST /v1/notifications, answered 200, recorded."""

    port: int
    _server: ThreadingHTTPServer
    _thread: threading.Thread
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _received: list[Notification] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{RECEIVER_PATH}"

    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self._received)

    def record(self, payload: Json) -> None:
        with self._lock:
            self._received.append(Notification(time.monotonic(), payload))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def start_receiver() -> WebhookReceiver:
    holder: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver = holder["receiver"]
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if self.path != RECEIVER_PATH or not isinstance(payload, dict):
                receiver.rejected.append(f"{self.path}: {body[:200]!r}")
                self.send_response(400)
                self.end_headers()
                return
            receiver.record(payload)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    receiver = WebhookReceiver(int(server.server_address[1]), server, thread)
    holder["receiver"] = receiver
    thread.start()
    return receiver


# --- processes --------------------------------------------------------------------------------


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alerts(self) -> list[Json]:
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=10.0)
        response.raise_for_status()
        alerts: list[Json] = response.json()
        return alerts

    def post(self, alerts: list[Json]) -> None:
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10.0)
        response.raise_for_status()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_alertmanager(directory: Path, config: Json, port: int) -> Iterator[Alertmanager]:
    binary = require_alertmanager_tool("alertmanager")
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    address = f"{LOOPBACK}:{port}"
    url = f"http://{address}"
    log = directory / "alertmanager.log"
    argv = [
        *NICE,
        binary,
        f"--config.file={config_path}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address={address}",
        "--cluster.listen-address=",  # one instance, no gossip port
        "--log.level=info",
    ]
    with running_daemon(
        "alertmanager", argv, ready_url=f"{url}/-/ready", log=log, cwd=directory
    ) as process:
        yield Alertmanager(url, process, log)


@contextmanager
def running_prometheus(directory: Path, config: Json, port: int) -> Iterator[Prometheus]:
    """Debian's Prometheus with ``config``; the rule files are copied next to it, where the
    config's relative `rule_files` finds them (as in the container)."""
    binary = require_executable("prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(RULES, directory / "rules", dirs_exist_ok=True)
    config_path = directory / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    address = f"{LOOPBACK}:{port}"
    url = f"http://{address}"
    log = directory / "prometheus.log"
    argv = [
        *NICE,
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        f"--web.listen-address={address}",
        "--log.level=info",
    ]
    with running_daemon(
        "prometheus", argv, ready_url=f"{url}/-/ready", log=log, cwd=directory
    ) as process:
        yield Prometheus(url, process, log)

"""A real Alertmanager (Debian's ``prometheus-alertmanager``, with ``amtool``) on a loopback
port, and the reading of its API that the live tier uses too.

Flags as compose.yaml gives them (cmd/alertmanager/main.go): ``--config.file``,
``--storage.path``, ``--web.external-url``, ``--cluster.listen-address=`` (no gossip), plus
``--web.listen-address`` for a free loopback port.

API (api/v2/openapi.yaml): ``POST /api/v2/alerts`` takes ``postableAlerts`` (``labels``,
``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``); ``GET /api/v2/alerts`` answers
``gettableAlerts``: each with ``labels``, ``annotations``, ``fingerprint``, ``startsAt``,
``endsAt``, ``updatedAt``, ``receivers[].name`` and ``status`` {``state``: unprocessed | active |
suppressed, ``silencedBy``, ``inhibitedBy``}; query ``filter`` (repeated matchers such as
``alertname="X"``), ``active``, ``silenced``, ``inhibited``, ``unprocessed``, ``receiver``.
Grafana serves the same list for an Alertmanager datasource at
``/api/alertmanager/<datasource uid>/api/v2/alerts`` (pkg/services/ngalert/api).
"""

from __future__ import annotations

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

ALERT_STATES = frozenset({"unprocessed", "active", "suppressed"})


@dataclass(frozen=True)
class AmAlert:
    """One entry of ``GET /api/v2/alerts``."""

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str
    receivers: tuple[str, ...]


def gettable_alerts(body: Any) -> list[AmAlert]:
    """Decode a ``gettableAlerts`` answer; ValueError when it does not have that shape."""
    if not isinstance(body, list):
        raise ValueError(f"gettableAlerts is a list, got {type(body).__name__}")
    out = []
    for item in body:
        try:
            state = item["status"]["state"]
            alert = AmAlert(
                fingerprint=str(item["fingerprint"]),
                labels={str(k): str(v) for k, v in item["labels"].items()},
                annotations={str(k): str(v) for k, v in item["annotations"].items()},
                state=str(state),
                receivers=tuple(str(r["name"]) for r in item["receivers"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a gettableAlert: {item!r}") from exc
        if alert.state not in ALERT_STATES:
            raise ValueError(f"unknown alert state {alert.state!r}")
        out.append(alert)
    return out


def matching(alerts: list[AmAlert], **labels: str) -> list[AmAlert]:
    return [a for a in alerts if all(a.labels.get(k) == v for k, v in labels.items())]


def alert_filter(**labels: str) -> list[tuple[str, str]]:
    """Query parameters ``filter=name="value"`` for each label (the API's matcher syntax)."""
    return [("filter", f'{name}="{value}"') for name, value in sorted(labels.items())]


@dataclass
class AlertmanagerApi:
    base: str

    def alerts(self, **labels: str) -> list[AmAlert]:
        response = httpx.get(
            f"{self.base}/api/v2/alerts", params=alert_filter(**labels), timeout=10.0
        )
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return gettable_alerts(response.json())

    def post(self, alerts: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.base}/api/v2/alerts", json=alerts, timeout=10.0)
        assert response.status_code == 200, (response.status_code, response.text[:500])

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` on ``/metrics`` whose labels include ``labels``."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.base}/metrics", timeout=10.0).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )


@dataclass
class RunningAlertmanager(AlertmanagerApi):
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_alertmanager(config: Mapping[str, Any], tmp: Path) -> Iterator[RunningAlertmanager]:
    binary = require_executable("prometheus-alertmanager")
    tmp.mkdir(parents=True, exist_ok=True)
    config_path = tmp / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    argv = [
        binary,
        f"--config.file={config_path}",
        f"--storage.path={tmp / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}",
        f"--web.external-url={base}",
        "--cluster.listen-address=",
    ]
    log = tmp / "alertmanager.log"
    with running_daemon(
        "alertmanager", argv, ready_url=f"{base}/-/ready", log=log, timeout=30
    ) as process:
        yield RunningAlertmanager(base, process, log)

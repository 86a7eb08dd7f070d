"""Target 2: the running compose stack. The backends' base URLs come from LIVE_*_URL (loopback
defaults: docs/stack.md, Ports); Grafana's admin password from GF_SECURITY_ADMIN_PASSWORD
(scripts/stack-test.sh reads it from the stack). Without a reachable stack the tier skips
locally and fails under CI=true (tests/support/tools.py).

The services already run, so the run cannot tag them with a resource attribute; instead it sends
its own W3C ``traceparent`` with every request (`expectations.drive_flows`) and so knows every
trace id of its traffic in advance. Counters are shared with the load generator: live checks are
``>= N`` for them, exact per trace for spans and log lines.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.support.live_backends import Grafana, Loki, PrometheusApi, Tempo, url
from tests.support.tools import missing
from tests.telemetry.expectations import COUNTERS, FlowRun, drive_flows

N = 3


@dataclass
class LiveRun:
    runs: list[FlowRun]
    started: float
    finished: float
    counters_before: dict[str, float]


def _reachable(base: str, path: str) -> bool:
    try:
        return httpx.get(f"{base}{path}", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def stack_up() -> None:
    checks = {
        "LIVE_API_URL": "/health/ready",
        "LIVE_PROMETHEUS_URL": "/-/ready",
        "LIVE_LOKI_URL": "/ready",
        "LIVE_TEMPO_URL": "/ready",
        "LIVE_GRAFANA_URL": "/api/health",
        "LIVE_ALERTMANAGER_URL": "/-/ready",
        "LIVE_ALERT_RECEIVER_URL": "/health/ready",
    }
    down = [
        f"{name}={url(name)}{path}"
        for name, path in checks.items()
        if not _reachable(url(name), path)
    ]
    if down:
        missing(f"the compose stack is not reachable: {', '.join(down)} (docker compose up --wait)")


@pytest.fixture(scope="session")
def prometheus(stack_up: None) -> PrometheusApi:
    return PrometheusApi(url("LIVE_PROMETHEUS_URL"))


@pytest.fixture(scope="session")
def tempo(stack_up: None) -> Tempo:
    return Tempo(url("LIVE_TEMPO_URL"))


@pytest.fixture(scope="session")
def loki(stack_up: None) -> Loki:
    return Loki(url("LIVE_LOKI_URL"))


@pytest.fixture(scope="session")
def grafana(stack_up: None) -> Grafana:
    """Grafana as admin (basic auth); ``.anonymous()`` is the Viewer everyone else gets."""
    password = os.environ.get("GF_SECURITY_ADMIN_PASSWORD")
    if not password:
        missing("GF_SECURITY_ADMIN_PASSWORD is not set (scripts/stack-test.sh provides it)")
    return Grafana(url("LIVE_GRAFANA_URL"), password)


@pytest.fixture(scope="session")
def live_run(stack_up: None, prometheus: PrometheusApi) -> LiveRun:
    """N flows through the stack's api, each request with a traceparent of our own."""
    before = {s.selector(): prometheus.value(s.selector()) for s in COUNTERS}
    started = time.time()
    with httpx.Client(base_url=url("LIVE_API_URL"), timeout=30.0) as client:
        runs = drive_flows(client, N)
    return LiveRun(runs, started, time.time(), before)

"""The live tier's run against the compose stack: is it up, and N flows of our own through it.

The services already run, so the run cannot tag them with a resource attribute; instead it sends
its own W3C ``traceparent`` with every request (`expectations.drive_flows`) and so knows every
trace id of its traffic in advance. Counters are shared with the load generator: live checks are
``>= N`` for them, exact per trace for spans and log lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tests.support.expectations import COUNTERS, FlowRun, drive_flows
from tests.support.live_backends import PrometheusApi, url

# Flows the live run drives through the stack's api.
N = 3

# Base-URL variable (tests/support/live_backends.py, DEFAULTS) -> its readiness path.
READY_PATHS = {
    "LIVE_API_URL": "/health/ready",
    "LIVE_PROMETHEUS_URL": "/-/ready",
    "LIVE_LOKI_URL": "/ready",
    "LIVE_TEMPO_URL": "/ready",
    "LIVE_GRAFANA_URL": "/api/health",
    "LIVE_ALERTMANAGER_URL": "/-/ready",
    "LIVE_ALERT_RECEIVER_URL": "/health/ready",
}


@dataclass
class LiveRun:
    runs: list[FlowRun]
    started: float
    finished: float
    counters_before: dict[str, float]


def _reachable(address: str) -> bool:
    try:
        return httpx.get(address, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def unreachable() -> list[str]:
    """``NAME=<url><path>`` of every backend that does not answer 200 on its readiness path."""
    return [
        f"{name}={url(name)}{path}"
        for name, path in READY_PATHS.items()
        if not _reachable(f"{url(name)}{path}")
    ]


def drive_live_flows(prometheus: PrometheusApi, n: int = N) -> LiveRun:
    """``n`` flows through the stack's api, each request with a traceparent of our own; the
    counters as Prometheus had them before."""
    before = {s.selector(): prometheus.value(s.selector()) for s in COUNTERS}
    started = time.time()
    with httpx.Client(base_url=url("LIVE_API_URL"), timeout=30.0) as client:
        runs = drive_flows(client, n)
    return LiveRun(runs, started, time.time(), before)

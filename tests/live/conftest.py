"""Target 2: the running compose stack (`tests.support.live_run`). The backends' base URLs come
from LIVE_*_URL (loopback defaults: docs/stack.md, Ports); Grafana's admin password from
GF_SECURITY_ADMIN_PASSWORD (scripts/stack-test.sh reads it from the stack). Without a reachable
stack the tier skips locally and fails under CI=true (tests/support/tools.py).
"""

from __future__ import annotations

import os

import pytest

from tests.support.live_backends import Grafana, Loki, PrometheusApi, Tempo, url
from tests.support.live_run import LiveRun, drive_live_flows, unreachable
from tests.support.tools import missing


@pytest.fixture(scope="session")
def stack_up() -> None:
    down = unreachable()
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
    return drive_live_flows(prometheus)

"""The RED panels for services that are not ours (issue 15): a FastAPI service instrumented only
with the OpenTelemetry contrib FastAPI instrumentation and opentelemetry-exporter-prometheus
(tests/support/otel_http_app.py, source 2), and span metrics named like Tempo's metrics generator
(source 3), scraped by Debian's Prometheus with the project's rule files. Every Prometheus query
of the Service overview is run for each of them and returns the numbers the traffic implies.

Counts are exact: a panel reads `rate(x[$__rate_interval])` or `increase(x[$__range])`, whose
value depends on when the scrapes fell; here each such call becomes `last_over_time(x[10m])`,
the counter's value, which after the traffic is exactly the number of requests. Everything else
in the query (selectors, label names, sums, joins, quantiles, the recording rules that normalise
the sources) is the panel's own. Panels reading 5-minute recording rules are checked where a
ratio is exact whatever the scrape times: a route's error ratio and its latency quantiles.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from tests.support import dashboards
from tests.support.expectations import wait_for
from tests.support.prometheus import Prometheus, running_prometheus
from tests.support.services import LOOPBACK, base_env
from tests.support.tools import free_port

ROOT = Path(__file__).resolve().parents[2]
BOARD = dashboards.load(dashboards.DASHBOARDS / "service-overview.json")
TIMEOUT = 60.0

# Source 2 traffic: (method, path, status, times). The readiness probe is the first of the ten
# GET /items/{item_id}: it is counted once, when it first succeeds.
TRAFFIC = [
    ("GET", "/items/7", 200, 9),
    ("POST", "/items", 201, 4),
    ("GET", "/fail", 500, 3),
    ("GET", "/no/such/route", 404, 2),
    ("GET", "/slow", 200, 2),  # 1.2 s each (SLOW_SECONDS), past the 0.5 s objective
]
TOTAL = 1 + sum(t[3] for t in TRAFFIC)  # 21, with the probe
ROUTES = {"/items/{item_id}", "/items", "/fail", "unmatched", "/slow"}

# Source 3: span metrics as Tempo's generator names them (tests/config/data/self_metrics.yaml),
# for "ledger" (no other source) and "shop" (has the SDK metric: must not count twice).
# (service, span_name, span_kind, status_code, count, count at or below 0.512 s).
SPANS = [
    ("ledger", "POST /entries", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", 7, 6),
    ("ledger", "POST /entries", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR", 2, 2),
    ("ledger", "GET /entries/{entry_id}", "SPAN_KIND_SERVER", "STATUS_CODE_OK", 5, 5),
    ("ledger", "SELECT ledger", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", 40, 40),
    ("ledger", "POST /entries", "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET", 30, 30),
    ("shop", "GET /items/{item_id}", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", 10, 10),
]
BOUNDS = (0.256, 0.512, 1.024)  # a few of Tempo's default buckets


class SpanMetrics(Collector):
    """Tempo's span metrics, from a static table. shop's appear only once shop's own metrics
    have been scraped (``shop_traced``): the rules pick one source per service at each
    evaluation, so a service whose span metrics come first is read from them until its SDK
    metrics appear (docs/dashboards.md), which would make the exact counts below depend on the
    start-up order."""

    def __init__(self) -> None:
        self.shop_traced = threading.Event()

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "traces_spanmetrics_latency",
            "span durations",
            labels=["service", "span_name", "span_kind", "status_code"],
        )
        for service, name, kind, status, count, fast in SPANS:
            if service == "shop" and not self.shop_traced.is_set():
                continue
            buckets = [("0.256", 0), ("0.512", fast), ("1.024", count), ("+Inf", count)]
            family.add_metric([service, name, kind, status], buckets, sum_value=0.1 * count)
        yield family


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    tmp = tmp_path_factory.mktemp("red-sources")
    app_port, metrics_port, spans_port = free_port(), free_port(), free_port()
    env = base_env() | {"OTEL_SEMCONV_STABILITY_OPT_IN": "http"}
    log = (tmp / "app.log").open("wb")
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.otel_http_app",
            f"--port={app_port}",
            f"--metrics-port={metrics_port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    registry = CollectorRegistry()
    span_metrics = SpanMetrics()
    registry.register(span_metrics)
    server, thread = start_http_server(spans_port, addr=LOOPBACK, registry=registry)
    try:
        base = f"http://{LOOPBACK}:{app_port}"
        problems = wait_for(lambda: [] if _up(base) else ["app not up"], timeout=TIMEOUT)
        assert not problems, (tmp / "app.log").read_text()
        with running_prometheus(
            tmp / "prom",
            {},
            # The job is named after the service: with the SDK's exporter, service.name is only
            # on target_info, and the rules take app_name from the job (docs/dashboards.md).
            extra_jobs={
                "shop": f"{LOOPBACK}:{metrics_port}",
                "tempo-spanmetrics": f"{LOOPBACK}:{spans_port}",
            },
        ) as prom:
            with httpx.Client(base_url=base, timeout=10.0) as client:
                # One request of each kind first, scraped before the rest: a series that
                # appears with its final value shows no increase to a 5-minute rate.
                for method, path, status, _ in TRAFFIC:
                    assert client.request(method, path).status_code == status, path
                raw = 'sum(http_server_request_duration_seconds_count{job="shop"})'
                warm = 1 + len(TRAFFIC)
                problems = wait_for(
                    lambda: [] if prom.query(raw) and value(prom, raw) == warm else [raw],
                    timeout=TIMEOUT,
                )
                assert not problems
                span_metrics.shop_traced.set()
                for method, path, status, times in TRAFFIC:
                    for _ in range(times - 1):
                        assert client.request(method, path).status_code == status, path
            yield prom
    finally:
        server.shutdown()
        thread.join(5)
        app.terminate()
        app.wait(20)
        log.close()


def _up(base: str) -> bool:
    # The probe is counted (TOTAL): a long read timeout, so that a slow first answer on a loaded
    # machine is not given up on, probed again and counted twice. Before the app listens the
    # connection is refused at once.
    try:
        return (
            httpx.get(f"{base}/items/0", timeout=httpx.Timeout(20.0, connect=1.0)).status_code
            == 200
        )
    except httpx.HTTPError:
        return False


def queries(service: str) -> dict[str, list[str]]:
    """Panel title -> its PromQL, with $service chosen and every route."""
    board = dict(BOARD)
    board["templating"] = {
        "list": [
            dict(v, includeAll=False, options=[{"value": service}]) if v["name"] == "service" else v
            for v in BOARD["templating"]["list"]
        ]
    }
    out: dict[str, list[str]] = {}
    for title, expr in dashboards.promql_queries(board):
        out.setdefault(title, []).append(expr)
    return out


def counted(expr: str) -> str:
    """rate()/increase() of a counter -> the counter's value (see the module docstring)."""
    return re.sub(r"\b(rate|increase)\(([^()\[]+)\[[^\]]+\]\)", r"last_over_time(\2[10m])", expr)


def value(prom: Prometheus, expr: str) -> float:
    result = prom.query(expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def by(prom: Prometheus, expr: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prom.query(expr)}


def settled(prom: Prometheus, service: str, total: int) -> None:
    expr = f'sum(http_request_duration_seconds_count{{app_name="{service}"}})'
    problems = wait_for(
        lambda: [] if prom.query(expr) and value(prom, expr) == total else [expr],
        timeout=TIMEOUT,
        interval=0.5,
    )
    assert not problems, problems


# Service overview panels with no counterpart in a source, and why.
NOT_FOR_OTEL = {
    # The SDK has no exceptions counter (error.type rides on the duration metric).
    "Unhandled exceptions by type",
    # Recording rules over 1h/5m windows of several series: their values depend on scrape times
    # (checked for presence below); the trainer annotation is not a panel.
    "Latency budget burn rate (1h)",
    "Latency budget burn rate",
}


def test_otel_sdk_service_on_every_red_panel(prometheus: Prometheus) -> None:
    prom = prometheus
    settled(prom, "shop", TOTAL)
    q = queries("shop")
    checked: set[str] = set()

    def check(title: str) -> list[str]:
        checked.add(title)
        return [counted(e) for e in q[title]]

    (rate,) = check("Request rate")
    assert value(prom, rate) == TOTAL
    (errors,) = check("Error ratio (5xx)")
    assert value(prom, errors) == 3 / TOTAL
    (within,) = check("Within latency objective")
    assert value(prom, within) == (TOTAL - 2) / TOTAL
    (in_progress,) = check("Requests in progress")
    assert value(prom, in_progress) == 0  # none open now; the series exists
    (by_route,) = check("Request rate by route")
    assert by(prom, by_route, "route") == {
        "/items/{item_id}": 10,
        "/items": 4,
        "/fail": 3,
        "unmatched": 2,
        "/slow": 2,
    }
    (by_status,) = check("Responses by status code")
    assert by(prom, by_status, "status_code") == {"200": 12, "201": 4, "500": 3, "404": 2}
    (in_progress_route,) = check("Requests in progress by route")
    assert by(prom, in_progress_route, "route") == {"": 0}  # no route on active_requests
    (by_version,) = check("Request rate by version")
    assert by(prom, by_version, "version") == {"1.4.2": TOTAL}
    (errors_version,) = check("Error ratio (5xx) by version")
    assert by(prom, errors_version, "version") == {"1.4.2": 3 / TOTAL}
    # Quantiles: the panel's answer equals histogram_quantile over the exporter's own buckets.
    raw = 'http_server_request_duration_seconds_bucket{job="shop"}'
    for title in ("Latency p99", "Latency p99 by version"):
        (expr,) = check(title)
        expected = value(
            prom, f"histogram_quantile(0.99, sum by (le) (last_over_time({raw}[10m])))"
        )
        assert math.isclose(value(prom, expr), expected), title
        assert 1.0 < expected <= 2.5  # the two slow requests are the top 10%
    p50, p90, p99 = check("Latency p50 / p90 / p99 (dots are exemplars: click for the trace)")
    assert value(prom, p50) <= 0.1 < 0.5 < 1.0 < value(prom, p99) <= 2.5
    assert value(prom, p50) <= value(prom, p90) <= value(prom, p99)
    (heat,) = check("Latency distribution")
    buckets = by(prom, heat, "le")
    assert buckets["+Inf"] == TOTAL
    assert buckets["0.5"] == TOTAL - 2
    # 5-minute recording rules, where the value does not depend on scrape times.
    (route_errors,) = check("Error ratio (5xx) by route")
    route_p99 = check("Latency p99 by route")[0]
    table = check("Routes (last 5 minutes)")
    p50_rule, p90_rule = table[2], table[3]

    def rules() -> list[str]:
        """The rules evaluate every second after the scrape: wait for the last requests."""
        ratios = by(prom, route_errors, "route")
        got = {
            "routes": set(by(prom, table[0], "route")),
            "ratio routes": set(ratios),
            "/fail": ratios.get("/fail"),
            "others": {ratios.get(r) for r in ROUTES - {"/fail"}},
            "p99 /slow": by(prom, route_p99, "route").get("/slow"),
            "p50 /slow": by(prom, p50_rule, "route").get("/slow"),
            "p90 /slow": by(prom, p90_rule, "route").get("/slow"),
            "SLO rules": bool(prom.query(q["Latency budget burn rate (1h)"][0])),
        }
        want = {
            "routes": ROUTES,
            "ratio routes": ROUTES,
            "/fail": 1,
            "others": {0},
            # both in the (1, 2.5] bucket: histogram_quantile interpolates inside it
            "p99 /slow": pytest.approx(1.0 + 1.5 * 0.99),
            "p50 /slow": pytest.approx(1.0 + 1.5 * 0.5),
            "p90 /slow": pytest.approx(1.0 + 1.5 * 0.9),
            "SLO rules": True,
        }
        return [f"{k}: {got[k]!r} != {want[k]!r}" for k in want if got[k] != want[k]]

    problems = wait_for(rules, timeout=TIMEOUT, interval=0.5)
    assert not problems, problems
    for title in NOT_FOR_OTEL:
        checked.add(title)
    # Every Prometheus query of the dashboard was looked at, but the alert list's (none).
    assert checked == set(q), set(q) - checked


def test_span_metrics_service_once(prometheus: Prometheus) -> None:
    prom = prometheus
    server = [s for s in SPANS if s[0] == "ledger" and s[2] == "SPAN_KIND_SERVER"]
    total = sum(s[4] for s in server)  # 14
    settled(prom, "ledger", total)
    q = queries("ledger")
    assert value(prom, counted(q["Request rate"][0])) == total
    assert value(prom, counted(q["Error ratio (5xx)"][0])) == 2 / total
    fast = sum(s[5] for s in server)
    # Tempo's buckets have no 0.5 boundary: the objective's le="0.5" bucket does not exist.
    assert prom.query(counted(q["Within latency objective"][0])) == []
    assert fast == 13
    assert by(prom, counted(q["Request rate by route"][0]), "route") == {
        "/entries": 9,
        "/entries/{entry_id}": 5,
    }
    assert by(prom, counted(q["Responses by status code"][0]), "status_code") == {
        "non-5xx": 12,
        "5xx": 2,
    }
    # shop has the SDK metric: its span metrics add nothing. Its own series settle on their own
    # scrape (ledger's having settled says nothing of them).
    settled(prom, "shop", TOTAL)
    assert value(prom, 'sum(http_request_duration_seconds_count{app_name="shop"})') == TOTAL
    sources = by(prom, "count by (red_source) (http_request_duration_seconds_count)", "red_source")
    assert set(sources) == {"otel", "spanmetrics"}


def test_a_wrong_expectation_fails(prometheus: Prometheus) -> None:
    """The exact checks can fail: one request more is a different answer."""
    settled(prometheus, "shop", TOTAL)
    rate = counted(queries("shop")["Request rate"][0])
    assert value(prometheus, rate) != TOTAL + 1
    assert counted('sum(rate(x{a="b"}[$__rate_interval]))') == 'sum(last_over_time(x{a="b"}[10m]))'

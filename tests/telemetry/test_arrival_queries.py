"""Target 1: every PromQL query of every dashboard and every recording/alert rule runs against a
real Prometheus that scraped the real services, and returns data, unless the declaration
(`expectations.unavailable_reason`) says which part of the compose stack it needs.

Dashboard variables are substituted twice: with the dashboards' own "All" values, and with real
values of this run (`app_name="loan-api"`, a real route). Alert expressions run with their
comparisons turned into ``bool`` (`expectations.as_bool`): the thresholds are the promtool unit
tests' business (prometheus/tests), this tier proves the expressions read series that exist.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from tests.support import dashboards, prom_rules
from tests.support.documents import pdf
from tests.support.expectations import (
    API,
    APPLICATIONS,
    as_bool,
    drive_flows,
    unavailable_reason,
    wait_for,
)
from tests.support.prometheus import Prometheus
from tests.support.wire import WireStack

# Recording rules evaluate every second here; rates over [1m] need two scrapes.
DATA_TIMEOUT = 30.0
REAL_VALUES = {"service": API, "route": re.escape(APPLICATIONS), "prometheus": "prometheus"}


def recorded() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for path in prom_rules.rule_files():
        for group in prom_rules.load_yaml(path).get("groups") or []:
            for rule in group.get("rules") or []:
                if "record" in rule:
                    found[rule["record"]].append(rule["expr"])
    return dict(found)


def with_real_values(board: dict[str, Any]) -> dict[str, Any]:
    board = dict(board)
    templating = []
    for var in board.get("templating", {}).get("list", []):
        real = REAL_VALUES.get(var["name"])
        templating.append(
            var if real is None else dict(var, includeAll=False, options=[{"value": real}])
        )
    board["templating"] = {"list": templating}
    return board


def all_queries() -> list[tuple[str, str, str | None]]:
    """(where, PromQL, recording rule name) for every dashboard query (both substitutions) and
    every rule."""
    queries: list[tuple[str, str, str | None]] = []
    for path in dashboards.dashboard_files():
        board = dashboards.load(path)
        for title, expr in dashboards.promql_queries(board):
            queries.append((f"{path.name} {title!r} (All)", expr, None))
        for title, expr in dashboards.promql_queries(with_real_values(board)):
            queries.append((f"{path.name} {title!r} (loan-api)", expr, None))
    for path in prom_rules.rule_files():
        for group in prom_rules.load_yaml(path).get("groups") or []:
            for rule in group.get("rules") or []:
                if "record" in rule:
                    queries.append(
                        (f"{path.name} record {rule['record']}", rule["expr"], rule["record"])
                    )
                else:
                    queries.append(
                        (f"{path.name} alert {rule['alert']}", as_bool(rule["expr"]), None)
                    )
    return queries


QUERIES = all_queries()
RECORDED = recorded()
REASONS = {where: unavailable_reason(q, RECORDED, record=r) for where, q, r in QUERIES}
AVAILABLE = [(w, q) for w, q, _ in QUERIES if REASONS[w] is None]
UNAVAILABLE = [(w, q) for w, q, _ in QUERIES if REASONS[w] is not None]


@pytest.fixture(scope="module")
def traffic(wire_stack: WireStack, prometheus: Prometheus) -> Prometheus:
    """Two flows, so the app's series exist and move, and one document the tagger cannot read
    (an encrypted PDF: 422, `loan_tagger_failures_total{reason="rejected"}`)."""
    with wire_stack.api.client() as client:
        run = drive_flows(client, 2)[0]
        response = client.post(
            f"{APPLICATIONS}/{run.application_id}/documents",
            headers={"Authorization": f"Bearer {run.token}"},
            files={"file": ("locked.pdf", pdf("Passport", encrypted=True), "application/pdf")},
            data={"kind": "id"},
        )
        assert response.status_code == 422, response.text
    return prometheus


def test_the_inventory_is_complete() -> None:
    """Sanity of the lists below: all five dashboards and three rule files are read, and what is
    declared unavailable is the stack-only part, not the app's metrics."""
    assert len(dashboards.dashboard_files()) >= 5
    assert len(prom_rules.rule_files()) >= 3
    assert len(AVAILABLE) >= 40, len(AVAILABLE)
    app_only = [
        w
        for w, q in UNAVAILABLE
        if re.search(r"\b(http_request|loan_)", q)
        and not dashboards.data_sources(q) - {"app", "recording rules"}
    ]
    assert len(app_only) <= 4, app_only  # the two 5xx-only rules, the exceptions panel twice


def test_every_available_query_returns_data(traffic: Prometheus) -> None:
    def empty() -> list[str]:
        return [
            f"{where}: no data for {expr}" for where, expr in AVAILABLE if not traffic.query(expr)
        ]

    problems = wait_for(empty, timeout=DATA_TIMEOUT, interval=1.0)
    assert not problems, "\n".join(problems)


def test_unavailable_queries_are_declared_and_still_execute(traffic: Prometheus) -> None:
    """Each has a reason, and Prometheus accepts it (a typo would fail here, not only in the
    live stack)."""
    assert UNAVAILABLE, "the stack-only queries should be listed"
    for where, expr in UNAVAILABLE:
        assert REASONS[where], where
        traffic.query(expr)  # raises on a PromQL error


def test_rules_are_loaded_and_evaluate_without_errors(traffic: Prometheus) -> None:
    """The rule files resolved next to the rewritten config, and none fails to evaluate."""
    names = {rule.get("name") for group in traffic.rule_groups() for rule in group["rules"]}
    assert set(RECORDED) <= names
    problems = wait_for(
        lambda: [
            f"{rule['name']}: {rule.get('lastError')}"
            for group in traffic.rule_groups()
            for rule in group["rules"]
            if rule.get("health") != "ok"
        ],
        timeout=DATA_TIMEOUT,
        interval=1.0,
    )
    assert not problems, problems


def test_every_scrape_target_is_up(traffic: Prometheus) -> None:
    assert traffic.targets_up() == {"api": "up", "tagger": "up", "prometheus": "up"}


def test_a_query_on_a_series_that_does_not_exist_is_reported(traffic: Prometheus) -> None:
    """Negative check: the emptiness check can fail."""
    assert not traffic.query('http_request_duration_seconds_count{app_name="no-such-app"}')
    assert unavailable_reason("sum(rate(otelcol_receiver_accepted_spans[1m]))", RECORDED)
    assert unavailable_reason(":loan_tagger_failures:rate5m", RECORDED) is None
    assert unavailable_reason("job_exporter:otelcol_exporter_sent:rate5m", RECORDED)

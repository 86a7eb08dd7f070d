"""Target 2: the declarations of tests/support/expectations.py, checked through the compose
stack's own backends: Tempo (trace by id, TraceQL search), Loki (LogQL on structured metadata),
Prometheus (counters, exemplars, Tempo's generator series) and Grafana (health, datasources,
dashboards, every panel query), plus the links between them.

Run: ``scripts/stack-up.sh && scripts/stack-test.sh`` (or ``uv run pytest -m live tests/live``
with the stack up and GF_SECURITY_ADMIN_PASSWORD exported).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from tests.support import dashboards
from tests.support.expectations import (
    API,
    COUNTERS,
    DOCUMENTS,
    EXEMPLARS,
    TAGGER,
    TRACES,
    LogRecord,
    dump,
    log_problems,
    sensitive_problems,
    sensitive_values,
    trace_ids,
    trace_problems,
    wait_for,
)
from tests.support.live_backends import (
    DATASOURCES,
    Grafana,
    Loki,
    PrometheusApi,
    Tempo,
    frames_have_data,
    is_tempo_search,
    panel_queries,
    poll,
    same_trace_id,
    traces_to_logs_query,
)
from tests.support.live_run import LiveRun, N

ROOT = Path(__file__).resolve().parents[2]
# Ingestion: collector batch, Tempo's live store, Loki's ingester. The generator's series need
# a remote-write cycle on top.
ARRIVAL = 90.0
GENERATOR = 180.0

# Panels that may rightly be empty on a healthy stack, and why. Every other panel query must
# answer with data.
MAY_BE_EMPTY = {
    "Slow requests": "only traces slower than $slow (500 ms); a healthy stack may have none",
    "Unhandled exceptions by type": "no series before the first unhandled exception",
    "Error lines in range": "counts error-level lines; the load generator's bad requests log at "
    "warning level",
    "Recent errors (click a trace id to open the trace)": "error-level lines only",
    "Failed requests": "spans with status error; the tagger failure share of the load "
    "generator is small and may be zero in the window",
    "Alert notifications by status": "the alert receiver's lines; a healthy stack fires no "
    "alert (test_stack_alerting.py makes one)",
    "Alert notifications (click the runbook or the dashboard)": "the alert receiver's lines; "
    "a healthy stack fires no alert",
}


def services_of(trace: str) -> tuple[str, ...]:
    return (API, TAGGER) if trace == "upload" else (API,)


# --- Tempo ------------------------------------------------------------------------------------


def test_every_trace_is_in_tempo_as_declared(live_run: LiveRun, tempo: Tempo) -> None:
    def problems() -> list[str]:
        found = []
        for run in live_run.runs:
            for step, sent in run.traces.items():
                found += trace_problems(TRACES[step], sent, tempo.trace(sent.trace_id))
        return found

    left = wait_for(problems, timeout=ARRIVAL, interval=2.0)
    assert not left, "\n".join(left)


def test_traceql_search_finds_the_tagger_span_of_each_upload(
    live_run: LiveRun, tempo: Tempo
) -> None:
    def missing_ids() -> list[str]:
        lost = []
        for trace_id in trace_ids(live_run.runs, "upload"):
            query = (
                f'{{ trace:id = "{trace_id}" && resource.service.name = "{TAGGER}" '
                f'&& name = "tagger.tag_document" }}'
            )
            found = tempo.search(query, live_run.started - 60, time.time() + 60)
            if len(found) != 1 or not same_trace_id(found[0], trace_id):
                lost.append(f"{trace_id}: {found}")
        return lost

    left = wait_for(missing_ids, timeout=ARRIVAL, interval=2.0)
    assert not left, left


# --- Loki -------------------------------------------------------------------------------------


def loki_logs(
    loki: Loki, live_run: LiveRun, trace_id: str, services: tuple[str, ...]
) -> list[LogRecord]:
    records = []
    for service in services:
        records += loki.query_range(
            f'{{service_name="{service}"}} | trace_id="{trace_id}"',
            live_run.started - 60,
            time.time() + 60,
        )
    return records


def test_every_log_line_is_in_loki_with_its_trace_and_span(
    live_run: LiveRun, loki: Loki, tempo: Tempo
) -> None:
    def problems() -> list[str]:
        found = []
        for run in live_run.runs:
            for step, sent in run.traces.items():
                logs = loki_logs(loki, live_run, sent.trace_id, services_of(step))
                found += log_problems(TRACES[step], sent, logs, tempo.trace(sent.trace_id))
        return found

    left = wait_for(problems, timeout=ARRIVAL, interval=2.0)
    assert not left, "\n".join(left)


def test_no_sensitive_value_in_loki_or_tempo(live_run: LiveRun, loki: Loki, tempo: Tempo) -> None:
    values = sensitive_values(live_run.runs)
    problems = []
    for value in values:
        # a line filter over both services' streams: nothing may match
        hits = loki.query_range(
            f'{{service_name=~"{API}|{TAGGER}"}} |= `{value}`',
            live_run.started - 60,
            time.time() + 60,
        )
        problems += [f"loki line contains {value!r}: {h.body[:80]}" for h in hits]
    spans = [
        s for run in live_run.runs for t in run.traces.values() for s in tempo.trace(t.trace_id)
    ]
    assert spans
    problems += sensitive_problems("tempo spans", dump(spans), values)
    assert not problems, "\n".join(problems)


# --- Prometheus -------------------------------------------------------------------------------


def test_counters_grow_by_at_least_n(live_run: LiveRun, prometheus: PrometheusApi) -> None:
    """The load generator shares these counters: the exact-N check is target 1's (no other
    traffic there); here every counter must have grown by at least this run's N."""

    def short() -> list[str]:
        return [
            s.selector()
            for s in COUNTERS
            if prometheus.value(s.selector()) - live_run.counters_before[s.selector()]
            < s.per_flow * N
        ]

    left = wait_for(short, timeout=60, interval=2.0)
    assert not left, left


def test_exemplars_link_to_traces_in_tempo(
    live_run: LiveRun, prometheus: PrometheusApi, tempo: Tempo
) -> None:
    """Exemplars of the declared histograms exist; the run's own trace id among them when the
    scrape caught one of our requests, else the newest; that trace is in Tempo with the api's
    server span of that route."""
    for step, series in EXEMPLARS:

        def exemplar_ids(selector: str = series.selector()) -> list[str]:
            found = prometheus.exemplars(selector, live_run.started - 300, time.time() + 1)
            return [e["labels"]["trace_id"] for e in found if "trace_id" in e["labels"]]

        ids = poll(exemplar_ids, timeout=60)
        assert ids, f"no exemplar for {series.selector()}"
        mine = set(trace_ids(live_run.runs, step))
        chosen = next((i for i in ids if i in mine), ids[-1])
        spans = poll(lambda chosen=chosen: tempo.trace(chosen), timeout=ARRIVAL)
        route = series.labels["route"]
        assert any(s.kind == "SERVER" and s.attributes.get("http.route") == route for s in spans), (
            step,
            chosen,
        )


def test_service_graph_and_span_metrics_exist(prometheus: PrometheusApi, live_run: LiveRun) -> None:
    """Tempo's metrics generator (names from grafana/tempo modules/generator/processor:
    traces_service_graph_request_total{client,server}, traces_spanmetrics_calls_total{service,
    span_name,span_kind,status_code}), remote-written to Prometheus."""
    queries = [
        f'traces_service_graph_request_total{{client="{API}", server="{TAGGER}"}}',
        f'traces_spanmetrics_calls_total{{service="{API}", span_name="POST {DOCUMENTS}", '
        f'span_kind="SPAN_KIND_SERVER"}}',
        f'traces_spanmetrics_latency_bucket{{service="{TAGGER}", span_name="tagger.tag_document"}}',
    ]
    for query in queries:
        assert poll(lambda q=query: prometheus.query(q), timeout=GENERATOR), query


# --- the Tempo -> Loki link of the datasource config --------------------------------------------


def test_traces_to_logs_query_returns_the_traces_lines(
    live_run: LiveRun, loki: Loki, grafana: Grafana
) -> None:
    sent = live_run.runs[0].traces["upload"]
    for service in (API, TAGGER):
        query = traces_to_logs_query(sent.trace_id, service)
        assert sent.trace_id in query, query
        assert "$" not in query, query
        expected = {log.message for log in TRACES["upload"].logs if log.service == service}
        found = poll(
            lambda q=query, expected=expected: (
                {r.body for r in loki.query_range(q, live_run.started - 60, time.time() + 60)}
                >= expected
            ),
            timeout=ARRIVAL,
        )
        assert found, (query, expected)
        # and through Grafana's Loki datasource, as the trace view runs it
        result = grafana.ds_query(
            {
                "refId": "A",
                "datasource": {"uid": "loki", "type": "loki"},
                "expr": query,
                "queryType": "range",
            },
            since="now-1h",
        )
        assert frames_have_data(result), (query, result)


# --- Grafana ----------------------------------------------------------------------------------


def test_grafana_and_every_datasource_are_healthy(grafana: Grafana) -> None:
    health = grafana.get("/api/health")
    assert health.status_code == 200, health.text
    assert health.json().get("database") == "ok", health.text
    doc = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    for ds in doc["datasources"]:
        if ds["type"] == "tempo":
            # What the Tempo datasource's "Save & test" runs in the browser: Tempo's /api/echo
            # through the datasource proxy.
            response = grafana.proxy_get(ds["uid"], "/api/echo")
            assert response.status_code == 200, (ds["uid"], response.text)
            continue
        if ds["type"] == "alertmanager":
            # What its "Save & test" does for the Prometheus implementation (no backend).
            response = grafana.proxy_get(ds["uid"], "/api/v2/status")
            assert response.status_code == 200, (ds["uid"], response.text)
            assert response.json()["cluster"]["status"] == "disabled", response.text
            continue
        response = grafana.get(f"/api/datasources/uid/{ds['uid']}/health")
        assert response.status_code == 200, (ds["uid"], response.text)
        assert response.json().get("status") == "OK", (ds["uid"], response.json())


def dashboard_search(grafana: Grafana) -> set[str]:
    response = grafana.get("/api/search", type="dash-db", limit=5000)
    assert response.status_code == 200, response.text
    return {str(hit["uid"]) for hit in response.json()}


def test_every_dashboard_is_provisioned(grafana: Grafana) -> None:
    uids = {dashboards.load(p)["uid"] for p in dashboards.dashboard_files()}
    found = dashboard_search(grafana)
    assert uids <= found, uids - found
    for uid in uids:
        response = grafana.get(f"/api/dashboards/uid/{uid}")
        assert response.status_code == 200, (uid, response.text)
        assert response.json()["dashboard"]["uid"] == uid


def test_the_anonymous_viewer_sees_dashboards_with_data_and_cannot_edit(grafana: Grafana) -> None:
    """The README's promise: Grafana as an anonymous Viewer, every dashboard and its data, and
    no way to change anything without the admin login."""
    viewer = grafana.anonymous()
    uids = {dashboards.load(p)["uid"] for p in dashboards.dashboard_files()}
    assert uids <= dashboard_search(viewer), uids - dashboard_search(viewer)
    result = viewer.ds_query(
        {
            "refId": "A",
            "datasource": {"uid": "prometheus", "type": "prometheus"},
            "expr": 'up{job="api"}',
            "instant": True,
            "range": False,
        }
    )
    assert not result.get("error"), result
    assert frames_have_data(result), result
    # pkg/api/api.go: POST /api/dashboards/db needs dashboards:create or dashboards:write, which
    # the Viewer role does not hold. Answered before the body is read.
    probe = {"dashboard": {"title": "live tier: anonymous write probe"}, "overwrite": False}
    response = viewer.post("/api/dashboards/db", probe)
    assert response.status_code in (401, 403), (response.status_code, response.text[:300])


def test_every_panel_query_answers_with_data(live_run: LiveRun, grafana: Grafana) -> None:
    trace_id = live_run.runs[0].traces["upload"].trace_id
    queries = panel_queries(trace_id)
    assert len(queries) >= 50

    def empty() -> list[str]:
        lost = []
        for where, query in queries:
            title = re.search(r"'(.*)'", where)
            may_be_empty = bool(title and title.group(1) in MAY_BE_EMPTY)
            if is_tempo_search(query):
                # Raises on an error answer; an empty list is no data.
                if not grafana.tempo_search(query) and not may_be_empty:
                    lost.append(f"{where}: no traces found")
                continue
            result = grafana.ds_query(query)
            if result.get("error"):
                lost.append(f"{where}: {result['error']}")
            elif not may_be_empty and not frames_have_data(result):
                lost.append(f"{where}: no data")
        return lost

    left = wait_for(empty, timeout=GENERATOR, interval=10)
    assert not left, "\n".join(left)


@pytest.mark.parametrize("title", sorted(MAY_BE_EMPTY))
def test_panels_allowed_to_be_empty_exist(title: str) -> None:
    """The list of exceptions names real panels (a renamed panel must not hide here)."""
    titles = {
        str(p.get("title"))
        for path in dashboards.dashboard_files()
        for p in dashboards.iter_panels(dashboards.load(path))
    }
    assert title in titles

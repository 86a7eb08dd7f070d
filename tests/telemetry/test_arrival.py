"""Target 1: N application flows through the real api and tagger processes; every declared span,
log record, counter and exemplar arrives, exactly, in the OTLP receiver and in Prometheus.

The declarations live in tests/support/expectations.py and are shared with tests/live. The
negative tests at the end feed the same checkers deliberately wrong expectations and real data:
each must report a problem, or the positive tests above prove nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.support.expectations import (
    API,
    COUNTERS,
    EXEMPLARS,
    TAGGER,
    TRACES,
    FlowRun,
    LogRecord,
    LogSpec,
    SentTrace,
    SpanRecord,
    counter_problems,
    drive_flows,
    dump,
    exemplar_problems,
    log_problems,
    resource_problems,
    sensitive_problems,
    sensitive_values,
    trace_ids,
    trace_problems,
    wait_for,
    with_count,
    with_parent,
)
from tests.support.prometheus import Prometheus
from tests.support.wire import WireStack, scrape, scrape_counters

N = 5
ARRIVAL_TIMEOUT = 20.0
# Prometheus scrapes every second here (tests/support/prometheus.py); a few cycles are plenty.
SCRAPE_TIMEOUT = 20.0
RECORD_TIMEOUT = 10.0  # the services' own /metrics: seconds at most, even loaded


@dataclass
class Arrival:
    stack: WireStack
    prometheus: Prometheus
    runs: list[FlowRun]
    before: dict[str, float]  # Prometheus and /metrics agreed on these before the flows
    after_direct: dict[str, float]  # /metrics after the flows (recorded_counters)
    started: float
    finished: float

    def spans(self) -> list[SpanRecord]:
        mine = {sent.trace_id for run in self.runs for sent in run.traces.values()}
        return [s for s in self.stack.receiver.spans() if s.trace_id in mine]

    def logs(self) -> list[LogRecord]:
        mine = {sent.trace_id for run in self.runs for sent in run.traces.values()}
        return [r for r in self.stack.receiver.logs() if r.trace_id in mine]


def settled_counters(stack: WireStack, prometheus: Prometheus) -> dict[str, float]:
    """The counters once Prometheus has scraped the services' current values."""
    selectors = [s.selector() for s in COUNTERS]

    def behind() -> list[str]:
        direct = scrape_counters(stack)
        seen = prometheus.values(selectors)
        return [] if seen == direct else [f"prometheus {seen} != /metrics {direct}"]

    problems = wait_for(behind, timeout=SCRAPE_TIMEOUT)
    assert not problems, problems
    return scrape_counters(stack)


@pytest.fixture(scope="module")
def arrival(wire_stack: WireStack, prometheus: Prometheus) -> Arrival:
    before = settled_counters(wire_stack, prometheus)
    started = time.time()
    with wire_stack.api.client() as client:
        runs = drive_flows(client, N)
    after_direct = recorded_counters(wire_stack, before)
    return Arrival(wire_stack, prometheus, runs, before, after_direct, started, time.time())


def recorded_counters(stack: WireStack, before: dict[str, float]) -> dict[str, float]:
    """/metrics once it shows the flows (or RECORD_TIMEOUT passed: the test reports the last).

    The metrics middleware records a request when the app returns, which is after the response
    went out and after FastAPI closed the request's database connection (request-scoped
    dependencies exit after the response: FastAPI 0.165.0, fastapi/routing.py,
    ``request_response``), an await on the aiosqlite thread: a scrape sent right after the last
    response can be answered first.
    """
    scraped: list[dict[str, float]] = []

    def behind() -> list[str]:
        scraped.append(scrape_counters(stack))
        return counter_problems(before, scraped[-1], N)

    wait_for(behind, timeout=RECORD_TIMEOUT)
    return scraped[-1]


def _all_traces(arrival: Arrival) -> list[str]:
    spans = arrival.stack.receiver.spans()
    problems = []
    for run in arrival.runs:
        for step, sent in run.traces.items():
            problems += trace_problems(
                TRACES[step], sent, [s for s in spans if s.trace_id == sent.trace_id]
            )
    return problems


def _all_logs(arrival: Arrival, logs: list[LogRecord]) -> list[str]:
    spans = arrival.stack.receiver.spans()
    problems = []
    for run in arrival.runs:
        for step, sent in run.traces.items():
            problems += log_problems(TRACES[step], sent, logs, spans)
    return problems


# --- the receiver: traces, logs, resources ---------------------------------------------------


def test_every_trace_has_the_declared_spans_and_edges(arrival: Arrival) -> None:
    problems = wait_for(lambda: _all_traces(arrival), timeout=ARRIVAL_TIMEOUT)
    assert not problems, "\n".join(problems)


def test_upload_is_one_trace_across_both_services(arrival: Arrival) -> None:
    assert not wait_for(lambda: _all_traces(arrival), timeout=ARRIVAL_TIMEOUT)
    spans = arrival.spans()
    for run in arrival.runs:
        upload = run.traces["upload"].trace_id
        assert {s.service for s in spans if s.trace_id == upload} == {API, TAGGER}
        for step in ("create", "personal_details", "address", "invite"):
            assert {s.service for s in spans if s.trace_id == run.traces[step].trace_id} == {API}
    # N flows, 5 requests each: exactly that many api server spans, N tagger server spans
    assert sum(s.kind == "SERVER" and s.service == API for s in spans) == 5 * N
    assert sum(s.kind == "SERVER" and s.service == TAGGER for s in spans) == N


def test_every_log_record_arrives_in_its_span_over_otlp(arrival: Arrival) -> None:
    problems = wait_for(lambda: _all_logs(arrival, arrival.logs()), timeout=ARRIVAL_TIMEOUT)
    assert not problems, "\n".join(problems)


def stdout_records(arrival: Arrival) -> list[LogRecord]:
    """The JSON lines both services printed, as log records (the same checker reads them)."""
    skip = {"event", "level", "logger", "timestamp", "trace_id", "span_id", "service"}
    records = []
    for service in (arrival.stack.api, arrival.stack.tagger):
        for line in service.log_lines():
            records.append(
                LogRecord(
                    trace_id=str(line.get("trace_id", "")),
                    span_id=str(line.get("span_id", "")),
                    severity_text=str(line.get("level", "")).upper(),
                    body=str(line.get("event", "")),
                    service=str(line.get("service", "")),
                    attributes={k: v for k, v in line.items() if k not in skip},
                )
            )
    return records


def test_stdout_log_lines_carry_the_same_trace_and_span_ids(arrival: Arrival) -> None:
    assert not wait_for(lambda: _all_traces(arrival), timeout=ARRIVAL_TIMEOUT)
    problems = wait_for(lambda: _all_logs(arrival, stdout_records(arrival)), timeout=5)
    assert not problems, "\n".join(problems)


def test_resources_carry_the_run_id_and_both_transports_were_used(arrival: Arrival) -> None:
    assert not wait_for(lambda: _all_logs(arrival, arrival.logs()), timeout=ARRIVAL_TIMEOUT)
    records = [*arrival.spans(), *arrival.logs()]
    assert not resource_problems(records, run_id=arrival.stack.run_id)
    # the api exports over HTTP/protobuf, the tagger over gRPC (tests/support/wire.py)
    assert arrival.stack.receiver.requests["http"] > 0
    assert arrival.stack.receiver.requests["grpc"] > 0
    api_instances = {r.resource["service.instance.id"] for r in records if r.service == API}
    assert len(api_instances) == 1


# --- Prometheus: exact counts and exemplars ---------------------------------------------------


def test_counters_grow_by_exactly_n_in_prometheus(arrival: Arrival) -> None:
    selectors = [s.selector() for s in COUNTERS]
    problems = wait_for(
        lambda: counter_problems(arrival.before, arrival.prometheus.values(selectors), N),
        timeout=SCRAPE_TIMEOUT,
    )
    assert not problems, "\n".join(problems)
    # and at the source: what Prometheus shows is what /metrics says
    assert not counter_problems(arrival.before, arrival.after_direct, N)


def exemplar_trace_ids(arrival: Arrival, selector: str) -> list[str]:
    found = arrival.prometheus.exemplars(selector, arrival.started - 1, time.time() + 1)
    return [e["labels"]["trace_id"] for e in found if "trace_id" in e["labels"]]


@pytest.mark.parametrize(("step", "series"), EXEMPLARS, ids=[s for s, _ in EXEMPLARS])
def test_exemplars_point_at_this_runs_traces(arrival: Arrival, step: str, series: Any) -> None:
    mine = trace_ids(arrival.runs, step)
    problems = wait_for(
        lambda: exemplar_problems(exemplar_trace_ids(arrival, series.selector()), mine, step),
        timeout=SCRAPE_TIMEOUT,
    )
    assert not problems, problems
    # the exemplar's trace is one the receiver got, with the api server span of that step
    hits = set(exemplar_trace_ids(arrival, series.selector())) & set(mine)
    spans = arrival.spans()
    for trace_id in hits:
        assert any(s.trace_id == trace_id and s.kind == "SERVER" for s in spans)


# --- nothing sensitive ------------------------------------------------------------------------


def test_no_sensitive_value_in_spans_logs_or_metrics(arrival: Arrival) -> None:
    assert not wait_for(lambda: _all_logs(arrival, arrival.logs()), timeout=ARRIVAL_TIMEOUT)
    values = sensitive_values(arrival.runs)
    stack = arrival.stack
    problems = sensitive_problems("spans", dump(stack.receiver.spans()), values)
    problems += sensitive_problems("otlp logs", dump(stack.receiver.logs()), values)
    problems += sensitive_problems("api stdout", stack.api.output(), values)
    problems += sensitive_problems("tagger stdout", stack.tagger.output(), values)
    for service in (stack.api, stack.tagger):
        with service.client(headers={"Accept": "application/openmetrics-text"}) as client:
            problems += sensitive_problems(
                f"{service.name} /metrics", client.get("/metrics").text, values
            )
    series = arrival.prometheus.get("/api/v1/series", **{"match[]": '{job=~"api|tagger"}'})
    problems += sensitive_problems("prometheus series", str(series), values)
    assert not problems, "\n".join(problems)


# --- negative checks: wrong expectations must fail ---------------------------------------------


def test_a_count_of_n_plus_one_fails(arrival: Arrival) -> None:
    after = arrival.after_direct
    assert not counter_problems(arrival.before, after, N)
    assert counter_problems(arrival.before, after, N + 1)
    assert counter_problems(arrival.before, after, N - 1)


def test_a_wrong_parent_edge_fails(arrival: Arrival) -> None:
    run = arrival.runs[0]
    sent = run.traces["upload"]
    assert not wait_for(lambda: _all_traces(arrival), timeout=ARRIVAL_TIMEOUT)
    spans = [s for s in arrival.spans() if s.trace_id == sent.trace_id]
    spec = TRACES["upload"]
    assert not trace_problems(spec, sent, spans)
    # tagger.tag_document under the api's server span; documents.tag straight under the server
    assert trace_problems(with_parent(spec, "tagger_tag", "server"), sent, spans)
    assert trace_problems(with_parent(spec, "tag", "server"), sent, spans)
    # a root server span; or the client span the request never had
    assert trace_problems(with_parent(spec, "server", None), sent, spans)
    assert trace_problems(spec, replace(sent, parent_span_id="0" * 15 + "1"), spans)


def test_a_wrong_span_count_or_a_missing_span_fails(arrival: Arrival) -> None:
    sent = arrival.runs[0].traces["upload"]
    spans = [s for s in arrival.spans() if s.trace_id == sent.trace_id]
    spec = TRACES["upload"]
    assert trace_problems(with_count(spec, "tagger_tag", 2), sent, spans)
    # the tagger's spans lost (as if the trace context did not propagate)
    assert trace_problems(spec, sent, [s for s in spans if s.service != TAGGER])
    # an undeclared extra span
    extra = replace(spans[0], name="surprise", span_id="f" * 16)
    assert trace_problems(spec, sent, [*spans, extra])


def test_a_wrong_trace_id_fails(arrival: Arrival) -> None:
    spans = arrival.spans()
    logs = arrival.logs()
    stranger = SentTrace.new("upload")
    assert trace_problems(TRACES["upload"], stranger, spans)
    assert log_problems(TRACES["upload"], stranger, logs, spans)
    # spans of the create trace offered as the upload trace
    run = arrival.runs[0]
    create = [s for s in spans if s.trace_id == run.traces["create"].trace_id]
    assert trace_problems(TRACES["upload"], run.traces["upload"], create)
    assert exemplar_problems([stranger.trace_id], trace_ids(arrival.runs, "upload"), "upload")
    assert exemplar_problems([], trace_ids(arrival.runs, "upload"), "upload")


def test_a_wrong_log_level_or_span_fails(arrival: Arrival) -> None:
    sent = arrival.runs[0].traces["upload"]
    spans, logs = arrival.spans(), arrival.logs()
    spec = TRACES["upload"]
    assert not log_problems(spec, sent, logs, spans)
    warning = replace(spec, logs=(LogSpec(API, "document.tagged", "WARNING", "tag"),))
    assert log_problems(warning, sent, logs, spans)
    elsewhere = replace(spec, logs=(LogSpec(API, "document.tagged", "INFO", "server"),))
    assert log_problems(elsewhere, sent, logs, spans)
    twice = replace(spec, logs=(LogSpec(API, "document.tagged", "INFO", "tag", count=2),))
    assert log_problems(twice, sent, logs, spans)


def test_a_leaked_value_or_a_foreign_run_id_fails(arrival: Arrival) -> None:
    text = dump(arrival.spans())
    assert sensitive_problems("spans", text, ["documents.upload"])  # a value that is there
    assert sensitive_problems("text", "Authorization: Bearer lda_" + "x" * 43, [])
    assert resource_problems(arrival.spans(), run_id="another-run")


def test_metrics_endpoint_and_prometheus_agree_on_every_counter(arrival: Arrival) -> None:
    """What the checkers compare: the same selector text from both sides."""
    direct = scrape(arrival.stack.api)
    for series in COUNTERS:
        if series.labels.get("app_name", API) == API:
            assert series.selector() in direct, series.selector()

"""The arrival-time machinery both tiers share (tests/support/expectations.py, "arrival times")
and the live tier's Prometheus-config helpers, proven offline: percentiles, summaries, the poll
loop on a fake clock, the report and its bound, and the arrival checks on the real services'
telemetry (complete -> nothing missing; a span or a log line taken away -> named)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.expectations import (
    API,
    DB,
    TAGGER,
    TRACES,
    Answered,
    Arrivals,
    Latency,
    Probe,
    SentTrace,
    arrival_problems,
    arrival_report,
    drive_flows,
    go_duration_seconds,
    latency_summary,
    missing_logs,
    missing_spans,
    percentile,
    time_to_arrival,
    wait_for,
)
from tests.support.live_backends import scrape_interval, scrape_target
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.services import compose_batch_env
from tests.support.wire import WireStack

# --- percentiles and summaries ----------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 20) == 1.0
    assert percentile(values, 21) == 2.0
    assert percentile(values, 95) == 5.0
    assert percentile(values, 100) == 5.0
    assert percentile([7.0], 50) == 7.0
    twenty = [float(i) for i in range(1, 21)]
    assert percentile(twenty, 95) == 19.0  # 0.95 * 20 = 19: the 19th value
    assert percentile(twenty, 50) == 10.0


@pytest.mark.parametrize("q", [0, -1, 100.5])
def test_percentile_refuses_a_q_outside_the_range(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_latency_summary_and_its_line() -> None:
    summary = latency_summary([0.2, 1.4, 0.6, 0.9])
    assert summary == Latency(n=4, p50=0.6, p95=1.4, max=1.4)
    assert summary.describe() == "n=4 p50=0.60 s p95=1.40 s max=1.40 s"


# --- the poll loop --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_time_to_arrival_counts_from_since_to_the_first_yes() -> None:
    clock = FakeClock()
    answers = iter([False, False, True])

    def arrived() -> bool:
        clock.now += 0.01  # each query takes 10 ms
        return next(answers)

    seconds = time_to_arrival(
        99.5, arrived, timeout=15, interval=0.2, clock=clock, sleep=clock.sleep
    )
    # 0.5 s already gone at the start, two misses (query + 0.2 s pause each), then a hit
    assert seconds == pytest.approx(0.5 + 3 * 0.01 + 2 * 0.2)
    assert clock.sleeps == [0.2, 0.2]


def test_time_to_arrival_gives_up_after_the_timeout() -> None:
    clock = FakeClock()
    calls = []
    seconds = time_to_arrival(
        100.0,
        lambda: calls.append(1) is not None,  # always False
        timeout=1.0,
        interval=0.25,
        clock=clock,
        sleep=clock.sleep,
    )
    assert seconds is None
    assert len(calls) == 5  # at 0, 0.25, 0.5, 0.75 and 1.0 s
    assert clock.now == pytest.approx(101.0)


def test_time_to_arrival_asks_once_even_when_the_timeout_has_passed() -> None:
    clock = FakeClock()
    assert time_to_arrival(50.0, lambda: True, timeout=1, interval=1, clock=clock) == 50.0
    assert time_to_arrival(50.0, lambda: False, timeout=1, interval=1, clock=clock) is None


# --- report and bound -------------------------------------------------------------------------


def _answered(step: str = "create") -> Answered:
    return Answered(step, SentTrace.new(step), monotonic=10.0, wall=1_700_000_000.0)


def _probe(bound: float = 15.0) -> Probe:
    return Probe(lambda _: True, interval=0.2, bound=bound, timeout=2 * bound)


def test_arrival_report_summarises_what_arrived_and_counts_what_did_not() -> None:
    results: Arrivals = {
        "tempo": [(_answered(), 0.4), (_answered(), 1.2), (_answered(), None)],
        "loki": [(_answered(), None)],
    }
    lines = arrival_report(results, {"tempo": "traces in Tempo"})
    assert lines == [
        "traces in Tempo  n=2 p50=0.40 s p95=1.20 s max=1.20 s, 1 of 3 not within the timeout",
        "loki             nothing arrived, 1 of 1 not within the timeout",
    ]


def test_arrival_problems_name_the_late_and_the_lost_and_nothing_else() -> None:
    on_time, late, lost = _answered("create"), _answered("upload"), _answered("invite")
    results: Arrivals = {"tempo": [(on_time, 14.9), (late, 15.1), (lost, None)]}
    problems = arrival_problems(results, {"tempo": _probe(15.0)})
    assert problems == [
        f"tempo: upload {late.trace.trace_id} took 15.1 s (bound 15 s)",
        f"tempo: invite {lost.trace.trace_id} not there 30 s after the response",
    ]
    assert arrival_problems({"tempo": [(on_time, 15.0)]}, {"tempo": _probe(15.0)}) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("200ms", 0.2), ("15s", 15.0), ("1m", 60.0), ("1m30s", 90.0), ("1.5s", 1.5), ("2h", 7200.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "15", "s", "1x", "15s ", "-1s", "1d"])
def test_go_duration_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        go_duration_seconds(text)


# --- the arrival checks, on the real services' telemetry ----------------------------------------


def test_missing_spans_and_logs_on_a_real_upload(wire_stack: WireStack) -> None:
    with wire_stack.api.client() as client:
        (run,) = drive_flows(client, 1)
    sent, spec = run.traces["upload"], TRACES["upload"]
    receiver = wire_stack.receiver

    def not_yet() -> list[str]:
        return missing_spans(spec, sent, receiver.spans()) + missing_logs(
            spec, sent, receiver.logs()
        )

    assert not wait_for(not_yet, timeout=20)
    spans = [s for s in receiver.spans() if s.trace_id == sent.trace_id]
    logs = [r for r in receiver.logs() if r.trace_id == sent.trace_id]
    # the tagger's export not there yet: its two spans and two log lines are named
    without_tagger = missing_spans(spec, sent, [s for s in spans if s.service != TAGGER])
    assert without_tagger == [
        f"{sent.trace_id}: {TAGGER}/SERVER/'POST /api/v1/tags'",
        f"{sent.trace_id}: {TAGGER}/INTERNAL/'tagger.tag_document'",
    ]
    assert missing_logs(spec, sent, [r for r in logs if r.service != TAGGER]) == [
        f"{sent.trace_id}: {TAGGER}/'tagging.done'",
        f"{sent.trace_id}: {TAGGER}/'request'",
    ]
    # no database span at all: their count is free, but each declared one needs a span
    no_db = [s for s in spans if not DB.search(s.name)]
    assert len(no_db) < len(spans)
    free = [want for want in spec.spans if want.count is None]
    assert len(free) == 3
    assert missing_spans(spec, sent, no_db) == [
        f"{sent.trace_id}: {API}/CLIENT/{want.name!r}" for want in free
    ]
    # another trace's telemetry does not count
    stranger = SentTrace.new("upload")
    assert len(missing_spans(spec, stranger, spans)) == len(spec.spans)
    assert len(missing_logs(spec, stranger, logs)) == len(spec.logs)


# --- the receiver's arrival times -------------------------------------------------------------


def test_receiver_notes_the_last_arrival_of_each_trace() -> None:
    first, second = bytes.fromhex("ab" * 16), bytes.fromhex("cd" * 16)

    def spans(*trace_ids: bytes) -> ExportTraceServiceRequest:
        return ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    scope_spans=[ScopeSpans(spans=[Span(trace_id=t, name="s") for t in trace_ids])]
                )
            ]
        )

    receiver = OtlpReceiver()  # not started: storage only
    receiver.add_traces(spans(first), "http")
    receiver.add_traces(spans(first, second), "grpc")
    receiver.add_logs(
        ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    scope_logs=[
                        ScopeLogs(log_records=[OtlpLogRecord(trace_id=second), OtlpLogRecord()])
                    ]
                )
            ]
        ),
        "http",
    )
    (t1, _, ids1), (t2, _, ids2), (t3, _, ids3) = receiver.arrivals
    assert ids1 == {first.hex()}
    assert ids2 == {first.hex(), second.hex()}
    assert ids3 == {second.hex()}  # the record without a trace id is not a trace
    assert t1 <= t2 <= t3
    assert receiver.arrived_at("traces") == {first.hex(): t2, second.hex(): t2}
    assert receiver.arrived_at("logs") == {second.hex(): t3}
    with pytest.raises(ValueError, match="traces or logs"):
        receiver.arrived_at("metrics")


# --- the stack's settings the tiers read ------------------------------------------------------


def test_compose_batch_env_is_what_the_app_services_get() -> None:
    api = compose_batch_env("api")
    assert set(api) == {"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY"}
    assert compose_batch_env("tagger") == api
    assert compose_batch_env("api-canary") == api
    assert compose_batch_env("loadgen") == {}  # exports nothing


def test_scrape_target_and_interval_of_the_api_job() -> None:
    assert scrape_target("api", "api") == "api:8000"
    assert scrape_target("api", "api-canary") == "api-canary:8000"
    assert go_duration_seconds(scrape_interval("api")) == 15.0


def test_scrape_helpers_on_other_configs() -> None:
    config: dict[str, Any] = {
        "scrape_configs": [
            {"job_name": "a", "static_configs": [{"targets": ["a:1"]}], "scrape_interval": "5s"},
            {"job_name": "b", "static_configs": [{"targets": ["b:2"]}]},
            {"job_name": "c", "relabel_configs": [{}], "static_configs": [{"targets": ["c:3"]}]},
        ]
    }
    assert scrape_interval("a", config) == "5s"
    assert scrape_interval("b", config) == "1m"  # Prometheus's own default
    assert scrape_interval("b", config | {"global": {"scrape_interval": "30s"}}) == "30s"
    assert scrape_target("b", "b", config) == "b:2"
    with pytest.raises(AssertionError, match="relabels"):
        scrape_target("c", "c", config)
    with pytest.raises(ValueError, match="not enough values"):
        scrape_target("a", "nowhere", config)

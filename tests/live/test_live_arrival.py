"""Target 2: how soon this run's own requests can be found in the compose stack, per signal,
counted from the moment each response is back (request -> queryable).

The run drives its own flows through the stack's api, with random pauses between requests so
that responses fall at every point of the export cycles, and polls for each request from the
moment its response is back (one thread per request and signal, `expectations.measure_arrival`,
the machinery target 1 runs against its OTLP receiver in tests/telemetry/test_export_latency.py):

- traces in Tempo by id: every declared span of the trace (`missing_spans`) in
  ``GET /api/v2/traces/<id>`` (what an exemplar or a log line's trace link opens);
- traces in Tempo's search: ``{ trace:id = "<id>" }`` finds the trace (TraceQL search reads only
  the live store's blocks, which a trace joins after ``live_store.max_trace_idle``;
  tempo/tempo.yaml);
- log lines in Loki: every declared record of the trace (`missing_logs`) through LogQL on its
  ``trace_id`` structured metadata, per service;
- metrics in Prometheus: the first scrape of the api that started after the response, i.e.
  ``timestamp(up{job="api", instance="api:8000"})`` at or after the response's wall-clock time
  (a scrape's samples carry its start time, so the request is in the counters it read).

The figures are printed (without ``-s``). The test fails only when something does not arrive or
takes longer than a generous bound: 15 s, and for metrics the scrape interval plus 15 s. The 2 s
target for traces and logs (docs/stack.md) is never asserted.
"""

from __future__ import annotations

import random
import time

import httpx
import pytest

from tests.support.expectations import (
    FLOW,
    TRACES,
    Answered,
    Probe,
    arrival_problems,
    arrival_report,
    go_duration_seconds,
    measure_arrival,
    missing_logs,
    missing_spans,
)
from tests.support.live_backends import (
    Loki,
    PrometheusApi,
    Tempo,
    same_trace_id,
    scrape_interval,
    scrape_target,
    url,
)

FLOWS = 4  # 20 requests
BOUND = 15.0
PAUSE = 1.0  # at most, between requests: twice the stack's 500 ms batch delay
LOOKBACK = 60.0  # query windows open this long before the response (clock skew, slow clients)

LABELS = {
    "tempo": "traces in Tempo, by id",
    "tempo_search": "traces in Tempo, TraceQL search",
    "loki": "log lines in Loki",
    "prometheus": "metrics in Prometheus (next scrape)",
}


def test_arrival_times_of_this_runs_requests(
    tempo: Tempo, loki: Loki, prometheus: PrometheusApi, capsys: pytest.CaptureFixture[str]
) -> None:
    target = scrape_target("api", "api")
    interval = go_duration_seconds(scrape_interval("api"))

    def in_tempo(answered: Answered) -> bool:
        spans = tempo.trace(answered.trace.trace_id)
        return not missing_spans(TRACES[answered.step], answered.trace, spans)

    def in_tempo_search(answered: Answered) -> bool:
        trace_id = answered.trace.trace_id
        found = tempo.search(
            f'{{ trace:id = "{trace_id}" }}', answered.wall - LOOKBACK, time.time() + LOOKBACK
        )
        return any(same_trace_id(f, trace_id) for f in found)

    def in_loki(answered: Answered) -> bool:
        spec, trace_id = TRACES[answered.step], answered.trace.trace_id
        records = []
        for service in sorted({log.service for log in spec.logs}):
            records += loki.query_range(
                f'{{service_name="{service}"}} | trace_id="{trace_id}"',
                answered.wall - LOOKBACK,
                time.time() + LOOKBACK,
            )
        return not missing_logs(spec, answered.trace, records)

    def scraped(answered: Answered) -> bool:
        stamps = prometheus.query(f'timestamp(up{{job="api", instance="{target}"}})')
        return any(float(r["value"][1]) >= answered.wall for r in stamps)

    probes = {
        "tempo": Probe(in_tempo, interval=0.2, bound=BOUND, timeout=2 * BOUND),
        "tempo_search": Probe(in_tempo_search, interval=0.5, bound=BOUND, timeout=2 * BOUND),
        "loki": Probe(in_loki, interval=0.2, bound=BOUND, timeout=2 * BOUND),
        "prometheus": Probe(
            scraped, interval=0.5, bound=interval + BOUND, timeout=2 * (interval + BOUND)
        ),
    }
    rng = random.Random()
    with httpx.Client(base_url=url("LIVE_API_URL"), timeout=30.0) as client:
        results = measure_arrival(client, FLOWS, probes, pause=lambda: rng.uniform(0, PAUSE))

    lines = [
        f"request -> queryable in the compose stack, {FLOWS * len(FLOW)} requests "
        f"(from the response; resolution: poll interval plus one query)",
        *(f"  {line}" for line in arrival_report(results, LABELS)),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    problems = arrival_problems(results, probes)
    assert not problems, "\n".join(problems)

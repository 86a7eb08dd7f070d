"""Target 1: how soon the services' spans and log records reach the collector's front door, with
the batch settings of the compose stack (compose.yaml, not the tests' own short `FAST_EXPORT`).

The api and the tagger run as real uvicorn processes with the compose stack's ``OTEL_BSP_*`` /
``OTEL_BLRP_*`` values and export OTLP/HTTP (as in compose) to a receiver in this process, which
stands where the collector stands. Flows are driven with random pauses between requests, so that
responses fall at every point of the processors' export cycle. For every request the test
records how long after its response all of its spans, and all of its log records, had arrived:

- exactly, from the receiver's arrival times (the figures for docs/stack.md, "app -> collector");
- by polling, with the machinery the live tier uses against Tempo and Loki
  (`expectations.measure_arrival`): same probes, same summary, so a live figure differs from
  these by the backends, not by the method.

The figures are printed. The test fails only when something does not arrive or takes longer than
a generous bound; the 2 s target is for the live stack and is not asserted anywhere.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest

from tests.support.expectations import (
    FLOW,
    TRACES,
    Answered,
    Arrivals,
    Probe,
    arrival_problems,
    arrival_report,
    measure_arrival,
    missing_logs,
    missing_spans,
)
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.services import compose_batch_env, running_services

FLOWS = 6  # 30 requests, 30 traces, 30 sets of log records
BOUND = 15.0  # generous: the figures are a fraction of it; a failure means something is stuck
POLL = 0.05  # the receiver answers from memory


def test_compose_batch_settings_are_applied_and_all_arrive_within_the_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch_env = compose_batch_env("api")
    assert {"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY"} <= set(batch_env), batch_env
    assert compose_batch_env("tagger") == batch_env
    # Pauses up to the longest delay: responses land at every phase of the export cycle.
    longest = max(
        int(batch_env["OTEL_BSP_SCHEDULE_DELAY"]), int(batch_env["OTEL_BLRP_SCHEDULE_DELAY"])
    )
    rng = random.Random()
    with (
        OtlpReceiver() as receiver,
        running_services(
            tmp_path / "services",
            run_id=str(uuid.uuid4()),
            api_endpoint=receiver.http_endpoint,
            api_protocol="http/protobuf",
            tagger_endpoint=receiver.http_endpoint,
            tagger_protocol="http/protobuf",
            extra_env=batch_env,
        ) as services,
    ):

        def spans_here(answered: Answered) -> bool:
            spec = TRACES[answered.step]
            return not missing_spans(spec, answered.trace, receiver.spans())

        def logs_here(answered: Answered) -> bool:
            spec = TRACES[answered.step]
            return not missing_logs(spec, answered.trace, receiver.logs())

        probes = {
            "traces": Probe(spans_here, interval=POLL, bound=BOUND, timeout=2 * BOUND),
            "logs": Probe(logs_here, interval=POLL, bound=BOUND, timeout=2 * BOUND),
        }
        with services.api.client() as client:
            polled = measure_arrival(
                client, FLOWS, probes, pause=lambda: rng.uniform(0, longest / 1000)
            )
        exact = exact_arrivals(receiver, polled)

    settings = ", ".join(f"{k}={v}" for k, v in sorted(batch_env.items()))
    lines = [
        f"app -> collector (OTLP receiver), response -> all of the request's telemetry there, "
        f"{FLOWS * len(FLOW)} requests; {settings}",
        *(f"  exact   {line}" for line in arrival_report(exact)),
        *(f"  polled  {line}" for line in arrival_report(polled)),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    problems = arrival_problems(polled, probes) + arrival_problems(exact, probes)
    assert not problems, "\n".join(problems)
    assert all(len(measured) == FLOWS * len(FLOW) for measured in exact.values())


def exact_arrivals(receiver: OtlpReceiver, polled: Arrivals) -> Arrivals:
    """The same requests, timed by the receiver: seconds from each response to the last export
    that carried its trace id (None when none did)."""
    out: Arrivals = {}
    for signal, measured in polled.items():
        last = receiver.arrived_at(signal)
        out[signal] = [
            (answered, last[answered.trace.trace_id] - answered.monotonic)
            if answered.trace.trace_id in last
            else (answered, None)
            for answered, _ in measured
        ]
    return out

"""Target 1, reliability: the services keep serving when the telemetry pipeline is down, bounded
in memory and log volume; telemetry flows again when it returns; unknown paths and bad requests
do not grow the metric series or leave partial data behind.

Timing is never asserted in absolute terms: latency with the receiver down is compared with the
latency the same load had with it up, with generous ratios.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import psutil
import pytest

from tests.support.documents import PNG_HEADER, pdf
from tests.support.expectations import (
    API,
    APPLICATIONS,
    FlowRun,
    SentTrace,
    Series,
    all_problems,
    drive_flows,
    wait_for,
)
from tests.support.services import Service
from tests.support.tools import in_ci
from tests.support.wire import WireStack, scrape

STEADY_REQUESTS = 100  # per phase: receiver up, receiver down
PACE = 0.05  # seconds between requests: ~5 s per phase, a steady, bounded load
MAX_RSS_GROWTH = 64 * 1024 * 1024
MAX_EXPORT_ERROR_LINES = 10  # per service, over the whole outage (rate limit: 1/message/minute)
LATENCY_RATIO = 3.0 if not in_ci() else 5.0  # shared CI runners are noisy
P95_SLACK_SECONDS = 0.1


@dataclass
class Phase:
    latencies: list[float]
    statuses: list[int]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[-1]


def steady_load(client: httpx.Client, run: FlowRun, count: int) -> Phase:
    """``count`` traced reads of an application (every tenth an upload, so the tagger and its
    exporter are in the load too), one every `PACE` seconds."""
    auth = {"Authorization": f"Bearer {run.token}"}
    latencies, statuses = [], []
    for i in range(count):
        headers = {"traceparent": SentTrace.new("load").traceparent, **auth}
        started = time.perf_counter()
        if i % 10 == 9:
            response = client.post(
                f"{APPLICATIONS}/{run.application_id}/documents",
                headers=headers,
                files={"file": ("passport.pdf", pdf("Passport"), "application/pdf")},
                data={"kind": "id"},
            )
        else:
            response = client.get(f"{APPLICATIONS}/{run.application_id}", headers=headers)
        latencies.append(time.perf_counter() - started)
        statuses.append(response.status_code)
        time.sleep(PACE)
    return Phase(latencies, statuses)


def export_error_lines(service: Service, since: int) -> list[dict[str, object]]:
    """Lines from the OpenTelemetry SDK/exporter loggers printed after line ``since``."""
    return [
        line
        for line in service.log_lines()[since:]
        if str(line.get("logger", "")).startswith("opentelemetry")
    ]


def rss(service: Service) -> int:
    return int(psutil.Process(service.pid).memory_info().rss)


def test_receiver_outage_under_steady_load(wire_stack: WireStack) -> None:
    stack = wire_stack
    with stack.api.client() as client:
        (run,) = drive_flows(client, 1)
        steady_load(client, run, 20)  # warm-up: connections, caches, first exports
        up = steady_load(client, run, STEADY_REQUESTS)
        memory_before = {s.name: rss(s) for s in (stack.api, stack.tagger)}
        lines_before = {s.name: len(s.log_lines()) for s in (stack.api, stack.tagger)}

        stack.receiver.stop()
        received = dict(stack.receiver.requests)
        try:
            down = steady_load(client, run, STEADY_REQUESTS)
            assert stack.receiver.requests == received  # really down: nothing got through
            # what the outage leaves behind, measured before the receiver returns
            memory_after = {s.name: rss(s) for s in (stack.api, stack.tagger)}
            errors = {
                s.name: export_error_lines(s, lines_before[s.name])
                for s in (stack.api, stack.tagger)
            }
        finally:
            stack.receiver.start()  # the same ports

        print(  # shown with -s: the figures behind the ratios
            f"receiver up: p50 {up.p50 * 1000:.1f} ms p95 {up.p95 * 1000:.1f} ms; "
            f"down: p50 {down.p50 * 1000:.1f} ms p95 {down.p95 * 1000:.1f} ms; "
            f"rss before {memory_before} after {memory_after}; "
            f"export error lines { ({k: len(v) for k, v in errors.items()}) }"
        )
        assert set(up.statuses) <= {200, 201}, up.statuses
        assert set(down.statuses) <= {200, 201}, down.statuses
        assert down.p50 <= up.p50 * LATENCY_RATIO + 0.005, (up.p50, down.p50)
        # p95 is the 5th slowest of 100: a CPU burst of a second on the shared 2-core machine
        # slows that many. An export in the request path would wait out the exporter's first
        # retry back-off on the refused connection, 0.8-1.2 s (opentelemetry-exporter-otlp-common
        # 0.66b2, opentelemetry/exporter/otlp/common/http.py: 2**0 times a 20 % jitter; the
        # timeout here is 2 s), far above this slack.
        assert down.p95 <= up.p95 * LATENCY_RATIO + P95_SLACK_SECONDS, (up.p95, down.p95)
        for name, before in memory_before.items():
            assert memory_after[name] - before < MAX_RSS_GROWTH, (name, before, memory_after)
        for name, lines in errors.items():
            assert len(lines) <= MAX_EXPORT_ERROR_LINES, (name, len(lines), lines[:3])

        # after the return: a full flow's traces and logs arrive, as declared
        after = drive_flows(client, 1)
    problems = wait_for(
        lambda: all_problems(after, stack.receiver.spans(), stack.receiver.logs()), timeout=30
    )
    assert not problems, "\n".join(problems)


def series_lines(service: Service) -> list[str]:
    with service.client() as client:
        text = client.get("/metrics").text
    return sorted(line for line in text.splitlines() if line and not line.startswith("#"))


def test_unknown_path_flood_adds_no_series(wire_stack: WireStack) -> None:
    api = wire_stack.api
    unmatched = Series(
        "http_request_duration_seconds_count",
        {"app_name": API, "method": "GET", "route": "unmatched", "status_code": "404"},
    ).selector()
    with api.client() as client:
        assert client.get(f"/{secrets.token_hex(8)}").status_code == 404  # the one unmatched series
        before = series_lines(api)
        count_before = scrape(api)[unmatched]
        for _ in range(200):
            path = f"/{secrets.token_hex(6)}/{secrets.token_hex(4)}?q={secrets.token_hex(3)}"
            assert client.get(path).status_code == 404
    after = series_lines(api)
    assert len(after) == len(before)
    assert {line.rsplit(" ", 1)[0] for line in after} == {line.rsplit(" ", 1)[0] for line in before}
    assert scrape(api)[unmatched] - count_before == 200


BUSINESS = (
    "loan_applications_created_total",
    "loan_documents_tagged_total",
    "loan_tagger_failures_total",
)


def business_totals(service: Service) -> dict[str, float]:
    values = scrape(service)
    return {
        name: sum(v for k, v in values.items() if k.startswith(name + "{")) for name in BUSINESS
    }


def test_bad_requests_get_clear_errors_and_leave_nothing_behind(wire_stack: WireStack) -> None:
    api = wire_stack.api
    with api.client() as client:
        (run,) = drive_flows(client, 1)
        auth = {"Authorization": f"Bearer {run.token}"}
        documents = f"{APPLICATIONS}/{run.application_id}/documents"
        totals = business_totals(api)
        listed = client.get(documents, headers=auth).json()["items"]

        def problem(response: httpx.Response, status: int) -> None:
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            body = response.json()
            assert body["status"] == status, body
            assert body["title"], body
            assert body["detail"], body

        bad: list[tuple[Callable[[], httpx.Response], int]] = [
            # malformed JSON, wrong types, missing fields
            (
                lambda: client.post(
                    APPLICATIONS,
                    content=b'{"first_name": "Ann",',
                    headers={"Content-Type": "application/json"},
                ),
                400,
            ),
            (lambda: client.post(APPLICATIONS, json={"amount": "lots", "product": 7}), 422),
            (lambda: client.post(APPLICATIONS, json=[]), 422),
            # uploads: wrong media type, oversized, empty, unknown kind
            (
                lambda: client.post(
                    documents,
                    headers=auth,
                    files={"file": ("notes.txt", b"just text", "text/plain")},
                    data={"kind": "id"},
                ),
                415,
            ),
            (
                lambda: client.post(
                    documents,
                    headers=auth,
                    files={"file": ("fake.pdf", PNG_HEADER, "application/pdf")},
                    data={"kind": "id"},
                ),
                415,
            ),
            (
                lambda: client.post(
                    documents,
                    headers=auth,
                    files={
                        "file": (
                            "big.pdf",
                            b"%PDF-1.4\n" + b"0" * (6 * 1024 * 1024),
                            "application/pdf",
                        )
                    },
                    data={"kind": "id"},
                ),
                413,
            ),
            (
                lambda: client.post(
                    documents,
                    headers=auth,
                    files={"file": ("empty.pdf", b"", "application/pdf")},
                    data={"kind": "id"},
                ),
                422,
            ),
            (
                lambda: client.post(
                    documents,
                    headers=auth,
                    files={"file": ("passport.pdf", pdf("Passport"), "application/pdf")},
                    data={"kind": "selfie"},
                ),
                422,
            ),
            # tokens: none, malformed, well-formed but unknown
            (lambda: client.get(documents), 401),
            (lambda: client.get(documents, headers={"Authorization": "Bearer nope"}), 401),
            (
                lambda: client.post(
                    documents,
                    headers={"Authorization": f"Bearer lda_{secrets.token_urlsafe(32)}"},
                    files={"file": ("passport.pdf", pdf("Passport"), "application/pdf")},
                    data={"kind": "id"},
                ),
                401,
            ),
        ]
        for send, status in bad:
            problem(send(), status)

        assert client.get(documents, headers=auth).json()["items"] == listed
    assert business_totals(api) == totals


def test_the_flow_driver_fails_on_an_unexpected_status(wire_stack: WireStack) -> None:
    """Negative check for the shared driver: pointed at the tagger, the first step answers 404
    or 405 instead of 201, and the driver says so instead of carrying on."""
    with wire_stack.tagger.client() as client, pytest.raises(AssertionError, match="create"):
        drive_flows(client, 1)

"""Target 1, several workers: `loan-api serve --workers 2` with ``PROMETHEUS_MULTIPROC_DIR``.

prometheus-client's multiprocess mode (the observability package's choice for ``--workers N``,
see its docstring): every worker writes its samples to files in the directory and ``/metrics``,
whichever worker answers it, sums them. The trade-off: no exemplars in this mode. Requests are
sent in batches of N until both workers have served some (their server spans carry two
service.instance.id values); then every scrape shows exactly the number sent.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.expectations import (
    API,
    APPLICATIONS,
    SentTrace,
    Series,
    wait_for,
)
from tests.support.flows import application_body
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.services import running_services
from tests.support.wire import scrape

N = 40
MAX_BATCHES = 10


def test_two_workers_count_exactly_n(tmp_path: Path) -> None:
    multiproc = tmp_path / "prometheus-multiproc"
    multiproc.mkdir()
    with (
        OtlpReceiver() as receiver,
        running_services(
            tmp_path / "services",
            run_id=str(uuid.uuid4()),
            api_endpoint=receiver.grpc_endpoint,  # this time the api exports over gRPC
            api_protocol="grpc",
            tagger_endpoint=receiver.http_endpoint,
            tagger_protocol="http/protobuf",
            api_args=("--workers", "2"),
            api_extra_env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
        ) as services,
    ):
        api = services.api
        sent: list[SentTrace] = []

        def create(trace: SentTrace) -> int:
            # a new connection per request, so the kernel hands them to both workers
            with httpx.Client(base_url=api.url, timeout=30.0) as client:
                response = client.post(
                    APPLICATIONS,
                    json=application_body(),
                    headers={"traceparent": trace.traceparent, "Connection": "close"},
                )
                return response.status_code

        def server_spans() -> list[Any]:
            mine = {t.trace_id for t in sent}
            return [s for s in receiver.spans() if s.trace_id in mine and s.kind == "SERVER"]

        def instances() -> set[str]:
            """service.instance.id of the workers that served, once every span has arrived."""
            pending = wait_for(
                lambda: [] if len(server_spans()) == len(sent) else ["waiting"], timeout=20
            )
            assert not pending, f"{len(server_spans())} server spans of {len(sent)}"
            return {s.resource["service.instance.id"] for s in server_spans()}

        # Batches of N until both workers have served (the kernel's accept balancing is not
        # guaranteed to be even, or to reach both workers in one batch); bounded.
        for _ in range(MAX_BATCHES):
            batch = [SentTrace.new("create") for _ in range(N)]
            with ThreadPoolExecutor(max_workers=8) as pool:
                assert list(pool.map(create, batch)) == [201] * N
            sent.extend(batch)
            if len(instances()) == 2:
                break
        else:
            pytest.fail(f"one worker served all {len(sent)} requests")
        total = len(sent)

        count = Series(
            "http_request_duration_seconds_count",
            {"app_name": API, "method": "POST", "route": APPLICATIONS, "status_code": "201"},
        ).selector()
        created = Series(
            "loan_applications_created_total", {"api_version": "v1", "product": "mortgage"}
        ).selector()
        for _ in range(6):  # several scrapes: each may be answered by either worker
            values = scrape(api)
            assert values[count] == total, values[count]
            assert values[created] == total, values[created]
        with httpx.Client(base_url=api.url) as client:
            text = client.get("/metrics", headers={"Accept": "application/openmetrics-text"}).text
        assert " # {" not in text  # the documented trade-off: no exemplars in multiprocess mode
        assert 'app_info{app_name="loan-api"' in text

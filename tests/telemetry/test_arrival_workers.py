"""Target 1, several workers: `loan-api serve --workers 2` with ``PROMETHEUS_MULTIPROC_DIR``.

prometheus-client's multiprocess mode (the observability package's choice for ``--workers N``,
see its docstring): every worker writes its samples to files in the directory and ``/metrics``,
whichever worker answers it, sums them. The trade-off: no exemplars in this mode. After N
requests spread over both workers, every scrape shows exactly N.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.flows import application_body
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.services import running_services
from tests.telemetry.conftest import scrape
from tests.telemetry.expectations import (
    API,
    APPLICATIONS,
    SentTrace,
    Series,
    wait_for,
)

N = 40


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
        sent = [SentTrace.new("create") for _ in range(N)]

        def create(trace: SentTrace) -> int:
            # a new connection per request, so the kernel hands them to both workers
            with httpx.Client(base_url=api.url, timeout=30.0) as client:
                response = client.post(
                    APPLICATIONS,
                    json=application_body(),
                    headers={"traceparent": trace.traceparent, "Connection": "close"},
                )
                return response.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(create, sent)) == [201] * N

        count = Series(
            "http_request_duration_seconds_count",
            {"app_name": API, "method": "POST", "route": APPLICATIONS, "status_code": "201"},
        ).selector()
        created = Series(
            "loan_applications_created_total", {"api_version": "v1", "product": "mortgage"}
        ).selector()
        for _ in range(6):  # several scrapes: each may be answered by either worker
            values = scrape(api)
            assert values[count] == N, values[count]
            assert values[created] == N, values[created]
        with httpx.Client(base_url=api.url) as client:
            text = client.get("/metrics", headers={"Accept": "application/openmetrics-text"}).text
        assert " # {" not in text  # the documented trade-off: no exemplars in multiprocess mode
        assert 'app_info{app_name="loan-api"' in text

        # both workers served: two service.instance.id values among the server spans
        mine = {t.trace_id for t in sent}

        def servers() -> list[str]:
            spans = [s for s in receiver.spans() if s.trace_id in mine and s.kind == "SERVER"]
            return [] if len(spans) == N else [f"{len(spans)} server spans of {N}"]

        assert not wait_for(servers, timeout=20)
        instances = {
            s.resource["service.instance.id"]
            for s in receiver.spans()
            if s.trace_id in mine and s.kind == "SERVER"
        }
        assert len(instances) == 2, instances

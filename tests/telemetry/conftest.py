"""The telemetry tier's wire fixtures: an OTLP receiver, the api and the tagger as real uvicorn
processes exporting to it, and a real Prometheus scraping them.

One set per session (starting them takes a few seconds): the api exports over HTTP/protobuf, the
tagger over gRPC, so both OTLP transports are exercised by every run. Each session tags its
telemetry with a fresh ``test.run_id`` resource attribute; tests select their own data further by
the trace ids they send (`expectations.drive_flows`) and by counter deltas.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.otlp_receiver import OtlpReceiver
from tests.support.prometheus import Prometheus, running_prometheus
from tests.support.services import LOOPBACK, Service, Services, running_services
from tests.telemetry.expectations import COUNTERS, Series


@dataclass
class WireStack:
    run_id: str
    receiver: OtlpReceiver
    services: Services
    tmp: Path

    @property
    def api(self) -> Service:
        return self.services.api

    @property
    def tagger(self) -> Service:
        return self.services.tagger


def scrape(service: Service) -> dict[str, float]:
    """selector (as `Series.selector` writes it) -> value, from the service's /metrics."""
    with service.client() as client:
        text = client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[Series(sample.name, sample.labels).selector()] = float(sample.value)
    return out


def scrape_counters(stack: WireStack) -> dict[str, float]:
    values = scrape(stack.api) | scrape(stack.tagger)
    return {s.selector(): values[s.selector()] for s in COUNTERS if s.selector() in values}


@pytest.fixture(scope="session")
def wire_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireStack]:
    tmp = tmp_path_factory.mktemp("wire")
    run_id = str(uuid.uuid4())
    receiver = OtlpReceiver().start()
    try:
        with running_services(
            tmp / "services",
            run_id=run_id,
            api_endpoint=receiver.http_endpoint,
            api_protocol="http/protobuf",
            tagger_endpoint=receiver.grpc_endpoint,
            tagger_protocol="grpc",
        ) as services:
            yield WireStack(run_id, receiver, services, tmp)
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
def prometheus(wire_stack: WireStack) -> Iterator[Prometheus]:
    """Debian's Prometheus scraping the session's api and tagger (skips locally without the
    binary, fails under CI=true)."""
    targets = {
        "api": f"{LOOPBACK}:{wire_stack.api.port}",
        "tagger": f"{LOOPBACK}:{wire_stack.tagger.port}",
    }
    with running_prometheus(wire_stack.tmp / "prom", targets) as running:
        yield running

"""The telemetry tier's wire stack: an OTLP receiver and the api and the tagger as real uvicorn
processes exporting to it, the api over HTTP/protobuf and the tagger over gRPC, so both OTLP
transports are exercised by every run. Each stack tags its telemetry with a fresh
``test.run_id`` resource attribute."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.expectations import COUNTERS, Series
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.services import LOOPBACK, Service, Services, running_services


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

    def scrape_targets(self) -> dict[str, str]:
        """Prometheus job -> ``host:port`` of the api and the tagger."""
        return {
            "api": f"{LOOPBACK}:{self.api.port}",
            "tagger": f"{LOOPBACK}:{self.tagger.port}",
        }


@contextmanager
def running_wire_stack(tmp: Path) -> Iterator[WireStack]:
    """A receiver and both services (files under ``tmp``), stopped on exit."""
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

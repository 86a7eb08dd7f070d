"""The real api (and tagger) apps in-process with trainer mode on: real middleware, a fresh
registry, in-memory span and log exporters, a migrated SQLite file, a stub tagger over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from loan_api.config import Settings
from loan_api.container import Container
from loan_api.database import create_engine
from loan_api.documents.client import HttpTaggerClient
from loan_api.main import create_app
from loan_api.metrics import BusinessMetrics
from loan_desk_telemetry.testing import Capture, capture_telemetry
from tests.support.asgi import serving

# A fresh random token per test session: 48 hex characters, like the stack's generated secret.
TOKEN = secrets.token_hex(24)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}

TAGS = {
    "document_type": "passport",
    "form_year": None,
    "language": "en",
    "confidence": 0.9,
    "tagger_version": "stub",
}


@dataclass
class StubTagger:
    calls: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(200, json=TAGS)


class Emailer:
    async def send(self, *, to: str, subject: str, body: str) -> None:
        return None


@dataclass
class TrainerApi:
    client: httpx.AsyncClient
    app: FastAPI
    capture: Capture
    tagger: StubTagger
    registry: CollectorRegistry = field(repr=False)

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
        total = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total

    def count(self, route: str, **labels: str) -> float:
        return self.value("http_request_duration_seconds_count", route=route, **labels)

    def bucket(self, route: str, le: str) -> float:
        return self.value("http_request_duration_seconds_bucket", route=route, le=le)

    def server_spans(self, route: str) -> list[Any]:
        return [
            s
            for s in self.capture.spans()
            if s.kind.name == "SERVER" and s.attributes.get("http.route") == route
        ]

    async def switch_on(self, name: str, **params: Any) -> dict[str, Any]:
        response = await self.client.put(f"/admin/scenarios/{name}", json=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def switch_off(self, name: str) -> None:
        response = await self.client.delete(f"/admin/scenarios/{name}", headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["was_active"] is True


@asynccontextmanager
async def trainer_api(
    database_url: str,
    *,
    admin_enabled: bool = True,
    token: str = TOKEN,
    **settings: Any,
) -> AsyncIterator[TrainerApi]:
    capture = capture_telemetry(service_name="loan-api", version="test")
    stub = StubTagger()
    api_settings = Settings(
        app_env="test",
        database_url=database_url,
        admin_enabled=admin_enabled,
        admin_token=token,
        log_format="json",
        **settings,
    )

    def container_factory(s: Settings, metrics: BusinessMetrics) -> Container:
        client = httpx.AsyncClient(
            base_url="http://tagger", transport=httpx.MockTransport(stub.handler), timeout=5.0
        )
        return Container(
            settings=s,
            engine=create_engine(s.database_url),
            tagger=HttpTaggerClient(client),
            emailer=Emailer(),
            metrics=metrics,
        )

    app = create_app(
        api_settings,
        registry=capture.registry,
        container_factory=container_factory,
        telemetry=capture.telemetry,
    )
    try:
        async with serving(app, "http://api") as client:
            yield TrainerApi(client, app, capture, stub, capture.registry)
    finally:
        capture.telemetry.shutdown()


def scenario_events(span: Any) -> list[dict[str, Any]]:
    return [dict(e.attributes) for e in span.events if e.name == "scenario.injected"]


def records(capture: Capture, predicate: Callable[[Any], bool]) -> list[Any]:
    return [r for r in capture.log_records() if predicate(r)]


def body_of(record: Any) -> str:
    inner = getattr(record, "log_record", record)
    return str(inner.body)


def attributes_of(record: Any) -> dict[str, Any]:
    inner = getattr(record, "log_record", record)
    return dict(inner.attributes or {})


def severity_of(record: Any) -> str:
    inner = getattr(record, "log_record", record)
    return str(inner.severity_text)

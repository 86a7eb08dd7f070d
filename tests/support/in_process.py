"""The api over HTTP in-process (ASGI), wired to a real tagger app, on a given database.

`api_client` builds both apps as their ``create_app`` does, runs their lifespans and gives an
`Api`: an httpx client on the api, its registry, the fake emailer and the dependency container.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from doc_tagger.main import create_app as create_tagger_app
from loan_api.config import Settings
from loan_api.container import Container
from loan_api.database import create_engine
from loan_api.documents.client import HttpTaggerClient, TaggerClient
from loan_api.main import create_app
from loan_api.metrics import BusinessMetrics
from loan_desk_telemetry import Telemetry
from loan_desk_telemetry.testing import Capture, capture_telemetry
from tests.support.asgi import running, serving

_CAPTURES: dict[str, Capture] = {}


def shared_captures() -> tuple[Capture, Capture]:
    """The api's and the tagger's in-memory telemetry, made once per session; the api's tracer
    provider becomes the global one (the services' custom spans use the global tracer)."""
    if not _CAPTURES:
        _CAPTURES["api"] = capture_telemetry(service_name="loan-api", version="0.1.0")
        _CAPTURES["tagger"] = capture_telemetry(service_name="doc-tagger", version="0.1.0")
        trace.set_tracer_provider(_CAPTURES["api"].tracer_provider)
    if trace.get_tracer_provider() is not _CAPTURES["api"].tracer_provider:
        pytest.fail("another test set the global tracer provider; custom spans would be lost")
    return _CAPTURES["api"], _CAPTURES["tagger"]


@dataclass
class FakeEmailer:
    sent: list[dict[str, str]] = field(default_factory=list)
    fail: bool = False

    async def send(self, *, to: str, subject: str, body: str) -> None:
        if self.fail:
            raise ConnectionRefusedError("mail relay down")
        self.sent.append({"to": to, "subject": subject, "body": body})


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    registry: CollectorRegistry
    emailer: FakeEmailer
    tagger_transport: httpx.AsyncBaseTransport
    container: Container

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


class OwnProcess:
    """Runs an ASGI app in a fresh ``contextvars`` context, as if it were its own process: the
    caller's current span does not leak in; only what crosses the wire (``traceparent``) does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.create_task(self.app(scope, receive, send), context=contextvars.Context())


@asynccontextmanager
async def api_client(
    database_url: str,
    *,
    tagger_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
    settings: dict[str, Any] | None = None,
    telemetry: Telemetry | None = None,
    tagger_telemetry: Telemetry | None = None,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[Api]:
    """The api wired to a real tagger app (in-process over HTTP) unless a transport is given.

    ``telemetry``/``tagger_telemetry`` are handles with in-memory exporters for the telemetry
    tests; without them the integration tier runs with the SDK disabled.
    """
    tagger_app = create_tagger_app(registry=CollectorRegistry(), telemetry=tagger_telemetry)
    transport = tagger_transport or httpx.ASGITransport(app=OwnProcess(tagger_app))
    emailer = FakeEmailer()
    registry = registry if registry is not None else CollectorRegistry()
    api_settings = Settings(app_env="test", database_url=database_url, **(settings or {}))
    built: list[Container] = []

    def container_factory(s: Settings, metrics: BusinessMetrics) -> Container:
        tagger: TaggerClient = HttpTaggerClient(
            httpx.AsyncClient(base_url="http://tagger", transport=transport, timeout=2.0)
        )
        container = Container(
            settings=s,
            engine=create_engine(s.database_url),
            tagger=tagger,
            emailer=emailer,
            metrics=metrics,
            clock=clock or (lambda: datetime.now(UTC)),
        )
        built.append(container)
        return container

    app = create_app(
        api_settings, registry=registry, container_factory=container_factory, telemetry=telemetry
    )
    async with running(tagger_app), serving(app, "http://api") as client:
        yield Api(
            client=client,
            app=app,
            registry=registry,
            emailer=emailer,
            tagger_transport=transport,
            container=built[0],
        )

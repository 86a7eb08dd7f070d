"""Integration fixtures: the api over HTTP (in-process ASGI) on a real, migrated database.

Every integration test runs against SQLite and against PostgreSQL. PostgreSQL needs
``TEST_POSTGRES_URL`` (a role that may create databases; ``scripts/start-postgres.sh`` prints
one): without it the PostgreSQL half skips locally and fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.types import ASGIApp, Receive, Scope, Send

from doc_tagger.main import create_app as create_tagger_app
from loan_api.config import Settings
from loan_api.container import Container
from loan_api.database import create_engine
from loan_api.documents.client import HttpTaggerClient, TaggerClient
from loan_api.main import create_app
from loan_api.metrics import BusinessMetrics
from loan_api.migrate import upgrade
from loan_desk_telemetry import Telemetry
from tests.support.tools import missing


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _postgres_admin_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        missing("TEST_POSTGRES_URL is not set: no PostgreSQL server for the PostgreSQL tests")
    return url


async def _create_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def _drop_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def _run_in_own_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion even when the caller is inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """Makes empty databases of a kind and drops them at the end of the session."""
    created: list[tuple[str, str]] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            path: Path = tmp_path_factory.mktemp("db") / "loan_api.db"
            return f"sqlite+aiosqlite:///{path}"
        admin = _postgres_admin_url()
        name = f"loan_test_{uuid.uuid4().hex[:12]}"
        _run_in_own_loop(_create_database(admin, name))
        created.append((admin, name))
        return make_url(admin).set(database=name).render_as_string(hide_password=False)

    yield make
    for admin, name in created:
        _run_in_own_loop(_drop_database(admin, name))


@pytest.fixture(scope="session")
def database_url(database_kind: str, database_factory: Callable[[str], str]) -> str:
    """A database of this session's kind, migrated to head once; tests use fresh applications."""
    url = database_factory(database_kind)
    upgrade(url)
    return url


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
async def running(app: FastAPI) -> AsyncIterator[None]:
    async with app.router.lifespan_context(app):
        yield


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
    async with (
        running(app),
        running(tagger_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://api",
        ) as client,
    ):
        yield Api(
            client=client,
            app=app,
            registry=registry,
            emailer=emailer,
            tagger_transport=transport,
            container=built[0],
        )


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with api_client(database_url) as value:
        yield value


@pytest.fixture(autouse=True)
def _no_telemetry_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """The integration tier tests behaviour, not telemetry (tests/telemetry does that): no OTLP
    exporters pointing at a collector that is not there."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

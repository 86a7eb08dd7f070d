"""Integration fixtures: the api over HTTP (in-process ASGI, `tests.support.in_process`) on a
real, migrated database.

Every integration test runs against SQLite and against PostgreSQL (``database_kind``,
tests/conftest.py; `tests.support.databases` says what PostgreSQL needs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loan_api.migrate import upgrade
from tests.support.databases import DatabaseFactory
from tests.support.in_process import Api, api_client


@pytest.fixture(scope="session")
def database_url(database_kind: str, database_factory: DatabaseFactory) -> str:
    """A database of this session's kind, migrated to head once; tests use fresh applications."""
    url = database_factory(database_kind)
    upgrade(url)
    return url


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with api_client(database_url) as value:
        yield value


@pytest.fixture(autouse=True)
def _no_telemetry_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """The integration tier tests behaviour, not telemetry (tests/telemetry does that): no OTLP
    exporters pointing at a collector that is not there."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

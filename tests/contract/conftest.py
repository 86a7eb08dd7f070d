"""Contract fixtures: both services as real uvicorn processes, their OpenAPI documents loaded by
schemathesis, and the api's fuzzing aimed at applications this run owns
(`tests.support.contract`).

The api runs on SQLite and on PostgreSQL (``database_kind``, tests/conftest.py: the PostgreSQL
half needs ``TEST_POSTGRES_URL``, skips locally without it and fails under ``CI=true``); it
calls the real tagger over HTTP. Telemetry export is off: this tier tests the HTTP contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from loan_api.migrate import upgrade
from tests.support.contract import (
    ApiTarget,
    fuzz_config,
    own_application,
    service_env,
    summary_lines,
)
from tests.support.databases import DatabaseFactory
from tests.support.services import Service, start_service, started


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = summary_lines()
    if lines:
        terminalreporter.write_sep("-", "contract fuzzing")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis 4.32.5's ``from_fixture`` tests read and rename ``item._nodeid``, which
    pytest 9.2 no longer has (node ids moved to ``_id``): give them the attribute to work on."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def tagger_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = started(
        start_service(
            "doc-tagger",
            name="tagger",
            env=service_env(),
            log_dir=tmp_path_factory.mktemp("contract-tagger"),
        )
    )
    yield service
    service.stop()


@pytest.fixture(scope="session")
def api_target(
    database_kind: str,
    database_factory: DatabaseFactory,
    tagger_service: Service,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiTarget]:
    database_url = database_factory(database_kind)
    upgrade(database_url)
    service = started(
        start_service(
            "loan-api",
            name="api",
            env=service_env(DATABASE_URL=database_url, TAGGER_URL=tagger_service.url),
            log_dir=tmp_path_factory.mktemp(f"contract-api-{database_kind}"),
        )
    )
    try:
        with service.client() as client:
            yield ApiTarget(
                service=service,
                database_kind=database_kind,
                draft=own_application(client, complete=False),
                complete=own_application(client, complete=True),
            )
    finally:
        service.stop()


@pytest.fixture(scope="session")
def api_openapi(api_target: ApiTarget) -> Any:
    return schemathesis.openapi.from_url(
        f"{api_target.service.url}/openapi.json", config=fuzz_config()
    )


@pytest.fixture(scope="session")
def tagger_openapi(tagger_service: Service) -> Any:
    return schemathesis.openapi.from_url(f"{tagger_service.url}/openapi.json", config=fuzz_config())

"""Test tiers follow the folder a test lives in (see pyproject.toml for the markers); the
database fixtures are shared by the tiers that run the api on SQLite and on PostgreSQL
(integration, contract, telemetry). Helpers live in tests/support; conftest files hold only
fixtures and hooks (tests/unit/test_layout.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loan_desk_telemetry.testing import reset_global_state
from tests.support.databases import DATABASE_KINDS, DatabaseFactory

_TIER_BY_FOLDER = {
    "unit": "unit",
    "integration": "integration",
    "config": "config",
    "telemetry": "telemetry",
    "alerting": "alerting",
    "live": "live",
    "contract": "contract",
}
_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.path)).relative_to(_TESTS)
        tier = _TIER_BY_FOLDER.get(relative.parts[0])
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session", params=DATABASE_KINDS)
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    """Makes empty databases of a kind and drops them at the end of the session."""
    factory = DatabaseFactory(lambda: tmp_path_factory.mktemp("db"))
    yield factory
    factory.drop_all()


@pytest.fixture
def clean_telemetry_state() -> Iterator[None]:
    """Logging, structlog and the package's caches reset before and after the test: for tests
    that configure the process's logging (``pytest.mark.usefixtures("clean_telemetry_state")``).
    tests/unit/package has its own, autouse (its environment holds only the package)."""
    reset_global_state()
    yield
    reset_global_state()

"""Trainer mode in-process: the real api with trainer mode on, a migrated SQLite file per
module, and clean logging state around every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loan_api.migrate import upgrade
from tests.support.trainer import TrainerApi, trainer_api


@pytest.fixture(autouse=True)
def _clean_state(clean_telemetry_state: None) -> None:
    """Every trainer test starts and ends with clean logging state (tests/conftest.py)."""


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('trainer') / 'loan_api.db'}"
    upgrade(url)
    return url


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[TrainerApi]:
    async with trainer_api(database_url) as value:
        yield value

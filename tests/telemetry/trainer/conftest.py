"""Trainer mode in-process: the real api with trainer mode on, a migrated SQLite file per
module, and clean logging state around every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from loan_api.migrate import upgrade
from loan_desk_telemetry.testing import reset_global_state
from tests.support.trainer import TrainerApi, trainer_api


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    reset_global_state()
    yield
    reset_global_state()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('trainer') / 'loan_api.db'}"
    upgrade(url)
    return url


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[TrainerApi]:
    async with trainer_api(database_url) as value:
        yield value

"""Every engine the app makes renders no bound parameters into its errors (hide_parameters).

The api's engine and the one Alembic's env.py makes for `loan-api migrate`: a failing statement's
text then says "[SQL parameters hidden due to hide_parameters=True]" instead of the values
(tests/telemetry/test_error_path_redaction.py shows it end to end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.ext.asyncio

from loan_api.database import create_engine
from loan_api.migrate import upgrade


def test_the_api_engine_hides_parameters(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    assert engine.sync_engine.hide_parameters is True


def test_the_migration_engine_hides_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[dict[str, Any]] = []
    real = sqlalchemy.ext.asyncio.create_async_engine

    def spy(url: Any, **options: Any) -> Any:
        made.append(options)
        return real(url, **options)

    # env.py runs afresh on every Alembic command and imports the function then.
    monkeypatch.setattr(sqlalchemy.ext.asyncio, "create_async_engine", spy)
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}")
    assert len(made) == 1
    assert made[0].get("hide_parameters") is True

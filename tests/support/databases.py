"""Empty databases for the tiers that run the api on SQLite and on PostgreSQL.

PostgreSQL needs ``TEST_POSTGRES_URL`` (a role that may create databases;
``scripts/start-postgres.sh`` prints one): without it the PostgreSQL half skips locally and fails
under ``CI=true`` (`tools.missing`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.tools import missing

DATABASE_KINDS = ("sqlite", "postgres")


def postgres_admin_url() -> str:
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


def run_in_own_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion even when the caller is inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


class DatabaseFactory:
    """Makes empty databases of a kind (a SQLite file under ``make_dir()``, or a fresh
    PostgreSQL database); `drop_all` drops the PostgreSQL ones it made."""

    def __init__(self, make_dir: Callable[[], Path]) -> None:
        self._make_dir = make_dir
        self._created: list[tuple[str, str]] = []

    def __call__(self, kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite+aiosqlite:///{self._make_dir() / 'loan_api.db'}"
        if kind != "postgres":
            raise ValueError(f"unknown database kind {kind!r}: one of {DATABASE_KINDS}")
        admin = postgres_admin_url()
        name = f"loan_test_{uuid.uuid4().hex[:12]}"
        run_in_own_loop(_create_database(admin, name))
        self._created.append((admin, name))
        return make_url(admin).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        while self._created:
            admin, name = self._created.pop()
            run_in_own_loop(_drop_database(admin, name))

"""Migrations are reversible, and the current code still works one migration back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from loan_api.migrate import current_heads, downgrade, previous_revision, upgrade
from tests.support.flows import complete_application
from tests.support.in_process import api_client


def _tables_and_document_columns(url: str) -> tuple[set[str], set[str]]:
    async def read() -> tuple[set[str], set[str]]:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            columns = await connection.run_sync(
                lambda c: (
                    {col["name"] for col in inspect(c).get_columns("documents")}
                    if "documents" in tables
                    else set()
                )
            )
        await engine.dispose()
        return tables, columns

    return asyncio.run(read())


def test_every_migration_is_reversible(
    database_kind: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(database_kind)
    upgrade(url)
    tables, columns = _tables_and_document_columns(url)
    assert {"applications", "addresses", "documents", "notifications"} <= tables
    assert "page_count" in columns

    downgrade(url, "base")
    tables, _ = _tables_and_document_columns(url)
    assert tables <= {"alembic_version"}

    upgrade(url)
    assert current_heads() == ("0003",)


async def test_current_code_runs_the_whole_flow_one_migration_back(
    database_kind: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(database_kind)
    await asyncio.to_thread(upgrade, url, previous_revision())
    _, columns = await asyncio.to_thread(_tables_and_document_columns, url)
    assert "page_count" not in columns  # really one migration back

    async with api_client(url) as api:
        applicant = await complete_application(api.client)
        documents = await api.client.get(f"{applicant.path}/documents", headers=applicant.headers)
        assert documents.json()["items"][0]["status"] == "tagged"

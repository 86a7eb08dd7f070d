"""Alembic environment: async engines (aiosqlite, asyncpg), the app's shared metadata."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import loan_api.applications.models
import loan_api.documents.models
import loan_api.notifications.models  # noqa: F401 - registers the tables on the metadata
from loan_api.config import get_settings
from loan_api.database import SAFE_ENGINE_OPTIONS, metadata

config = context.config
database_url: str = config.attributes.get("database_url") or get_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    migration = context.get_context()
    # What `loan-api migrate` reports (loan_api.migrate.Migrated).
    config.attributes["revision_before"] = migration.get_current_revision()
    with context.begin_transaction():
        context.run_migrations()
    config.attributes["revision_after"] = migration.get_current_revision()


async def _run_async() -> None:
    engine = create_async_engine(database_url, poolclass=NullPool, **SAFE_ENGINE_OPTIONS)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())

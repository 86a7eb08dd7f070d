"""The database: one SQLAlchemy ``MetaData`` for every module, an async engine, and the naming
convention that keeps Alembic's constraint names stable across SQLite and PostgreSQL.

Tables are SQLAlchemy Core ``Table`` objects and every query names its columns, so the code keeps
working while a migration adds columns it does not know yet (see the migrations' docstrings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, event, make_url, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Options every engine of the app gets (the api's and the migrations'). ``hide_parameters``: a
#: failing statement's error text says "[SQL parameters hidden due to hide_parameters=True]"
#: instead of rendering the bound values (names, e-mail addresses, token hashes) into the
#: exception that logs and spans record (sqlalchemy/engine/create.py, 2.0.58).
SAFE_ENGINE_OPTIONS: dict[str, Any] = {"hide_parameters": True}


_EXAMPLES = "e.g. sqlite+aiosqlite:///./loan_api.db or postgresql+asyncpg://user@host:5432/db"


def database_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the app's database URL, or None: it must parse
    (``sqlalchemy.make_url``), name a dialect SQLAlchemy knows with an async driver, and the
    driver must be installed. Checked with the settings, before anything starts."""
    try:
        parsed = make_url(url)
    except ArgumentError:  # NoSuchModuleError below is an ArgumentError too
        return f"not a SQLAlchemy URL; {_EXAMPLES}"
    try:
        dialect = parsed.get_dialect()
    except ArgumentError:
        return f"unknown database or driver {parsed.drivername!r}; {_EXAMPLES}"
    if not dialect.is_async:
        return (
            f"{parsed.drivername!r} is not an async driver: use sqlite+aiosqlite or "
            "postgresql+asyncpg"
        )
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return f"the driver of {parsed.drivername!r} is not installed ({exc.name or exc})"
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            return f"the folder of the SQLite file does not exist ({folder})"
    return None


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    options: dict[str, Any] = {"pool_pre_ping": True, **SAFE_ENGINE_OPTIONS}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 15}
    else:
        options.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


async def ping(connection: AsyncConnection) -> None:
    await connection.execute(text("SELECT 1"))

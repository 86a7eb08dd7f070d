"""Alembic, driven from code so the same command works from a checkout and inside the image.

``loan-api migrate`` upgrades to head before the app starts (the compose stack runs it as a
one-shot step); the app itself never creates tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = database_url
    return config


@dataclass(frozen=True)
class Migrated:
    """What a migration command did: the database's revision before and after (None: empty)."""

    before: str | None
    after: str | None


def _run(database_url: str, run: str, revision: str) -> Migrated:
    config = alembic_config(database_url)
    getattr(command, run)(config, revision)
    # env.py records the revision it found and the one it left.
    return Migrated(
        config.attributes.get("revision_before"), config.attributes.get("revision_after")
    )


def upgrade(database_url: str, revision: str = "head") -> Migrated:
    return _run(database_url, "upgrade", revision)


def downgrade(database_url: str, revision: str) -> Migrated:
    return _run(database_url, "downgrade", revision)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def current_heads() -> tuple[str, ...]:
    return tuple(_scripts().get_heads())


def previous_revision() -> str:
    """The revision one migration before head: what a database that missed the latest has."""
    (head,) = current_heads()
    down = _scripts().get_revision(head).down_revision
    if not isinstance(down, str):
        raise RuntimeError(f"head {head} has no single previous revision: {down!r}")
    return down

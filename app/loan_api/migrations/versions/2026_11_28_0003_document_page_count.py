"""Expand step: documents.page_count, nullable, not yet written by the code.

The release that ships this migration does not read or write the column; the next release will
fill it from the tagger's answer. Migrations run before the new code rolls out, so during a
deploy the old code meets the new schema, and on an instance that missed the migration the new
code meets the old one. Both work because every query names its columns and the column is
nullable (tests/integration/test_migrations.py runs the current code one migration back).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("page_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("page_count")

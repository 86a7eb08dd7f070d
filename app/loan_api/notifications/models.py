"""Tables of the notifications module (private to the module)."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Uuid

from loan_api.database import UTCDateTime, metadata

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("application_id", Uuid, nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

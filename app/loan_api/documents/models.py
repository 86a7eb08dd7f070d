"""Tables of the documents module (private to the module)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, LargeBinary, String, Table, Uuid

from loan_api.database import UTCDateTime, metadata

documents = Table(
    "documents",
    metadata,
    Column("id", Uuid, primary_key=True),
    # No foreign key into the applications module: each module owns its tables, so either could
    # move into a service of its own with its own database.
    Column("application_id", Uuid, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    # Kept so that tagging can be retried after a tagger failure: nothing is lost.
    Column("content", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),
    Column("tags", JSON, nullable=True),
    Column("failure_reason", String(40), nullable=True),
    Column("rejection_reason", String(200), nullable=True),
    Column("tagging_attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Expand step of an expand/contract change: added by migration 0003 one release before the
    # code writes it, so this release must not read or write it (see that migration).
    Column("page_count", Integer, nullable=True),
)

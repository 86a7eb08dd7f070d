"""Tables of the applications module (private to the module: use ``service`` from outside)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, ForeignKey, String, Table, Uuid

from loan_api.database import UTCDateTime, metadata

applications = Table(
    "applications",
    metadata,
    Column("id", Uuid, primary_key=True),
    # SHA-256 of the bearer token: the token itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("product", String(16), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(254), nullable=False),
    Column("date_of_birth", Date, nullable=True),
    Column("place_of_birth", String(100), nullable=True),
    Column("nationality", String(2), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "application_id",
        Uuid,
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("street", String(200), nullable=False),
    Column("house_number", String(20), nullable=False),
    Column("postcode", String(20), nullable=False),
    Column("city", String(100), nullable=False),
    Column("country", String(2), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

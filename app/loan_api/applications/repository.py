"""SQL of the applications module. Every statement names its columns (see ``loan_api.database``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loan_api.applications.models import addresses, applications

_READ_COLUMNS = (
    applications.c.id,
    applications.c.product,
    applications.c.amount_cents,
    applications.c.currency,
    applications.c.first_name,
    applications.c.email,
    applications.c.date_of_birth,
    applications.c.created_at,
)


async def insert_application(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    token_hash: str,
    product: str,
    amount_cents: int,
    currency: str,
    first_name: str,
    last_name: str,
    email: str,
    now: datetime,
) -> None:
    await connection.execute(
        insert(applications).values(
            id=application_id,
            token_hash=token_hash,
            product=product,
            amount_cents=amount_cents,
            currency=currency,
            first_name=first_name,
            last_name=last_name,
            email=email,
            created_at=now,
            updated_at=now,
        )
    )


async def find_id_by_token_hash(connection: AsyncConnection, token_hash: str) -> UUID | None:
    result = await connection.execute(
        select(applications.c.id).where(applications.c.token_hash == token_hash)
    )
    return result.scalar_one_or_none()


async def get_application(
    connection: AsyncConnection, application_id: UUID
) -> dict[str, Any] | None:
    result = await connection.execute(
        select(*_READ_COLUMNS).where(applications.c.id == application_id)
    )
    row = result.mappings().one_or_none()
    return dict(row) if row is not None else None


async def update_personal_details(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    date_of_birth: date,
    place_of_birth: str,
    nationality: str,
    now: datetime,
) -> None:
    await connection.execute(
        update(applications)
        .where(applications.c.id == application_id)
        .values(
            date_of_birth=date_of_birth,
            place_of_birth=place_of_birth,
            nationality=nationality,
            updated_at=now,
        )
    )


async def insert_address(
    connection: AsyncConnection,
    *,
    address_id: UUID,
    application_id: UUID,
    street: str,
    house_number: str,
    postcode: str,
    city: str,
    country: str,
    now: datetime,
) -> None:
    await connection.execute(
        insert(addresses).values(
            id=address_id,
            application_id=application_id,
            street=street,
            house_number=house_number,
            postcode=postcode,
            city=city,
            country=country,
            created_at=now,
        )
    )


async def count_addresses(connection: AsyncConnection, application_id: UUID) -> int:
    result = await connection.execute(
        select(func.count(addresses.c.id)).where(addresses.c.application_id == application_id)
    )
    return int(result.scalar_one())

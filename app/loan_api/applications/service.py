"""Business rules of the applications module. Public: other modules call these functions."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from loan_api.applications import repository
from loan_api.applications.exceptions import (
    ApplicantTooYoung,
    ApplicationNotFound,
    DateOfBirthInFuture,
)
from loan_api.applications.schemas import (
    AddressSubmit,
    ApplicationRead,
    ApplicationStatus,
    Contact,
    PersonalDetailsSubmit,
    Product,
    Progress,
)

MINIMUM_AGE = 18
TOKEN_PREFIX = "lda_"  # noqa: S105 - a recognisable prefix lets scanners and redactors spot leaked tokens

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def create_application(
    connection: AsyncConnection,
    *,
    first_name: str,
    last_name: str,
    email: str,
    product: Product,
    amount_cents: int,
    currency: str,
    api_version: str,
    now: datetime,
) -> tuple[UUID, str]:
    """Store a new application; return its id and its bearer token (shown only this once)."""
    with tracer.start_as_current_span("applications.create") as span:
        application_id = uuid.uuid4()
        token = new_token()
        span.set_attribute("application.id", str(application_id))
        span.set_attribute("loan.product", product.value)
        span.set_attribute("loan.api_version", api_version)
        await repository.insert_application(
            connection,
            application_id=application_id,
            token_hash=hash_token(token),
            product=product.value,
            amount_cents=amount_cents,
            currency=currency,
            first_name=first_name,
            last_name=last_name,
            email=email,
            now=now,
        )
        await connection.commit()
    log.info(
        "application.created",
        application_id=str(application_id),
        product=product.value,
        api_version=api_version,
    )
    return application_id, token


async def find_application_by_token(connection: AsyncConnection, *, token: str) -> UUID | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return await repository.find_id_by_token_hash(connection, hash_token(token))


async def submit_personal_details(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    details: PersonalDetailsSubmit,
    now: datetime,
) -> None:
    with tracer.start_as_current_span("applications.submit_personal_details") as span:
        span.set_attribute("application.id", str(application_id))
        if details.date_of_birth > now.date():
            raise DateOfBirthInFuture
        if age_on(details.date_of_birth, now.date()) < MINIMUM_AGE:
            raise ApplicantTooYoung(MINIMUM_AGE)
        await repository.update_personal_details(
            connection,
            application_id=application_id,
            date_of_birth=details.date_of_birth,
            place_of_birth=details.place_of_birth,
            nationality=details.nationality,
            now=now,
        )
        await connection.commit()
    log.info("application.personal_details_submitted", application_id=str(application_id))


async def submit_current_address(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    address: AddressSubmit,
    now: datetime,
) -> None:
    """Addresses are kept as a history; the newest one is the current address."""
    with tracer.start_as_current_span("applications.submit_current_address") as span:
        span.set_attribute("application.id", str(application_id))
        span.set_attribute("address.country", address.country)
        await repository.insert_address(
            connection,
            address_id=uuid.uuid4(),
            application_id=application_id,
            street=address.street,
            house_number=address.house_number,
            postcode=address.postcode,
            city=address.city,
            country=address.country,
            now=now,
        )
        await connection.commit()
    log.info("application.address_submitted", application_id=str(application_id))


async def _read_with_missing_steps(
    connection: AsyncConnection, application_id: UUID
) -> tuple[dict[str, Any], list[str]]:
    """The application's row and the steps it still lacks, in two statements."""
    row = await repository.get_application(connection, application_id)
    if row is None:
        raise ApplicationNotFound
    missing = []
    if row["date_of_birth"] is None:
        missing.append("personal_details")
    if await repository.count_addresses(connection, application_id) == 0:
        missing.append("current_address")
    return row, missing


def _status(*, missing: list[str], documents_tagged: int, invited: bool) -> ApplicationStatus:
    if invited:
        return ApplicationStatus.invited
    if not missing and documents_tagged > 0:
        return ApplicationStatus.complete
    return ApplicationStatus.draft


async def get_application(
    connection: AsyncConnection,
    *,
    application_id: UUID,
    documents_uploaded: int,
    documents_tagged: int,
    invited: bool,
) -> ApplicationRead:
    """The application with its progress; document and invite counts come from their modules."""
    row, missing = await _read_with_missing_steps(connection, application_id)
    return ApplicationRead(
        id=row["id"],
        status=_status(missing=missing, documents_tagged=documents_tagged, invited=invited),
        product=Product(row["product"]),
        amount=Decimal(row["amount_cents"]).scaleb(-2),
        currency=row["currency"],
        created_at=row["created_at"],
        progress=Progress(
            personal_details="personal_details" not in missing,
            current_address="current_address" not in missing,
            documents_uploaded=documents_uploaded,
            documents_tagged=documents_tagged,
            invited=invited,
        ),
    )


async def get_contact(
    connection: AsyncConnection, *, application_id: UUID, documents_tagged: int
) -> Contact:
    row, missing = await _read_with_missing_steps(connection, application_id)
    if documents_tagged == 0:
        missing.append("documents")
    return Contact(
        first_name=row["first_name"],
        email=row["email"],
        ready_for_invite=not missing,
        missing_steps=missing,
    )


def age_on(date_of_birth: date, today: date) -> int:
    years = today.year - date_of_birth.year
    if (today.month, today.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years

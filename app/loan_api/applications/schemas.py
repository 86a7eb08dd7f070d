"""Request and response bodies of the applications module, per API version."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Product(enum.StrEnum):
    credit = "credit"
    mortgage = "mortgage"


class ApplicationStatus(enum.StrEnum):
    draft = "draft"
    complete = "complete"
    invited = "invited"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- v1 ---------------------------------------------------------------------------------------


class ApplicationCreateV1(StrictModel):
    first_name: Name
    last_name: Name
    email: EmailStr
    product: Product
    amount: int = Field(gt=0, le=10_000_000, description="Whole euros.")


class ApplicationCreatedV1(BaseModel):
    id: UUID
    token: str = Field(description="Bearer token for every further call on this application.")
    status: ApplicationStatus


class Progress(BaseModel):
    personal_details: bool
    current_address: bool
    documents_uploaded: int
    documents_tagged: int
    invited: bool


class ApplicationRead(BaseModel):
    id: UUID
    status: ApplicationStatus
    product: Product
    amount: Decimal
    currency: str
    created_at: datetime
    progress: Progress


class PersonalDetailsSubmit(StrictModel):
    date_of_birth: date
    place_of_birth: Name
    nationality: CountryCode


class AddressSubmit(StrictModel):
    street: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    house_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    postcode: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 -]{3,10}$")]
    city: Name
    country: CountryCode


class StepAccepted(BaseModel):
    success: Literal[True] = True


# --- v2: nested applicant and loan, money as decimal with currency, credentials object ---------


class Applicant(StrictModel):
    first_name: Name
    last_name: Name
    email: EmailStr


class Money(StrictModel):
    value: Decimal = Field(gt=0, le=10_000_000, max_digits=12, decimal_places=2)
    currency: Literal["EUR"] = "EUR"


class Loan(StrictModel):
    product: Product
    amount: Money


class ApplicationCreateV2(StrictModel):
    applicant: Applicant
    loan: Loan


class Credentials(BaseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret


class ApplicationSummaryV2(BaseModel):
    id: UUID
    status: ApplicationStatus
    loan: Loan


class ApplicationCreatedV2(BaseModel):
    application: ApplicationSummaryV2
    credentials: Credentials


class ApplicationRef(BaseModel):
    """What other modules get from an authorised request: the application's id."""

    id: UUID


class Contact(BaseModel):
    """What the notifications module needs to reach the applicant."""

    first_name: str
    email: str
    ready_for_invite: bool
    missing_steps: list[str]

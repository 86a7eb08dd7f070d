"""Request and response bodies of the applications module, per API version."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from servicekit.fields import ISO_DATE, JSON_INTEGER, NO_CONTROL_CHARACTERS, PLAIN_DECIMAL

# Free text: trimmed, not empty, and without control characters (servicekit.fields).
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    NO_CONTROL_CHARACTERS,
]
Street = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    NO_CONTROL_CHARACTERS,
]
HouseNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=20),
    NO_CONTROL_CHARACTERS,
]
Postcode = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9 -]{3,10}$"), NO_CONTROL_CHARACTERS
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]

# Nobody alive was born before this; earlier dates are typing mistakes (0001-01-01).
EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)
DateOfBirth = Annotated[
    date,
    Field(
        ge=EARLIEST_DATE_OF_BIRTH,
        description="YYYY-MM-DD, not before 1900-01-01 and not in the future.",
    ),
    ISO_DATE,
]

MAX_AMOUNT = 10_000_000
# v1: whole euros, a JSON integer (not true, not "100", not 100.5).
WholeEuros = Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="Whole euros."), JSON_INTEGER]
MONEY_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
# v2: a decimal with at most two places, as a JSON number or a string in plain notation; always
# answered as a string with exactly two places ("100000.00"), whatever form it came in.
MoneyValue = Annotated[
    Decimal,
    Field(gt=0, le=MAX_AMOUNT, max_digits=10, decimal_places=2),
    PLAIN_DECIMAL,
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_AMOUNT},
                {"type": "string", "pattern": MONEY_PATTERN},
            ],
            "description": "Greater than 0, at most 10000000, at most two decimal places; "
            'a JSON number or a string in plain decimal notation ("1500.50").',
        },
        mode="validation",
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,8}\.[0-9]{2}$",
            "description": 'Plain decimal notation with two places, e.g. "1500.50".',
        },
        mode="serialization",
    ),
]


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
    amount: WholeEuros


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
    date_of_birth: DateOfBirth
    place_of_birth: Name
    nationality: CountryCode


class AddressSubmit(StrictModel):
    street: Street
    house_number: HouseNumber
    postcode: Postcode
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
    value: MoneyValue
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

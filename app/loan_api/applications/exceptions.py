"""Errors of the applications module, as problem details."""

from __future__ import annotations

from servicekit.problems import Problem

_BEARER = {"WWW-Authenticate": 'Bearer realm="loan-desk"'}


class NotAuthenticated(Problem):
    def __init__(self) -> None:
        super().__init__(
            401,
            "A valid application token is required: Authorization: Bearer <token>.",
            slug="not-authenticated",
            headers=_BEARER,
        )


class NotYourApplication(Problem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "This token belongs to another application.",
            slug="forbidden",
        )


class ApplicationNotFound(Problem):
    def __init__(self) -> None:
        super().__init__(404, "No application with this id.", slug="application-not-found")


class ApplicantTooYoung(Problem):
    def __init__(self, minimum_age: int) -> None:
        super().__init__(
            422,
            f"Applicants must be at least {minimum_age} years old.",
            slug="applicant-too-young",
            title="Business rule violated",
        )


class DateOfBirthInFuture(Problem):
    """A validation error that needs the clock, so the service finds it, not the schema; it has
    the same shape as the schema's validation errors (``errors[]`` names the field)."""

    def __init__(self) -> None:
        super().__init__(
            422,
            "The date of birth is in the future.",
            slug="date-of-birth-in-future",
            title="Invalid request",
            errors=[
                {
                    "field": "body.date_of_birth",
                    "message": "The date of birth must not be in the future.",
                    "type": "date_in_future",
                }
            ],
        )

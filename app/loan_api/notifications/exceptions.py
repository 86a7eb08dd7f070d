"""Errors of the notifications module."""

from __future__ import annotations

from servicekit.problems import Problem


class ApplicationIncomplete(Problem):
    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            409,
            "The invite goes out once the application is complete; missing: "
            + ", ".join(missing)
            + ".",
            slug="application-incomplete",
            missing_steps=missing,
        )


class EmailNotSent(Problem):
    def __init__(self) -> None:
        super().__init__(
            502,
            "The e-mail could not be handed to the mail relay; try again.",
            slug="email-not-sent",
        )

"""Date-dependent business rules, with a frozen clock (the talk's fiscal-document recency)."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine

from loan_api.applications.service import age_on
from loan_api.documents.rules import fiscal_document_recency_error


@time_machine.travel("2023-08-21", tick=False)
def test_fiscal_document_of_last_year_is_recent() -> None:
    assert fiscal_document_recency_error(2022) is None
    assert fiscal_document_recency_error(2023) is None


@time_machine.travel("2023-08-21", tick=False)
def test_fiscal_document_two_years_old_is_not_recent() -> None:
    error = fiscal_document_recency_error(2021)
    assert error is not None
    assert error.startswith("recency")


@time_machine.travel("2024-01-01", tick=False)
def test_new_year_moves_the_window() -> None:
    assert fiscal_document_recency_error(2023) is None
    assert fiscal_document_recency_error(2022) == "recency: form year 2022 is older than 2023"


@time_machine.travel("2023-08-21", tick=False)
def test_future_and_unreadable_years_are_not_recent() -> None:
    assert fiscal_document_recency_error(2024) == "recency: form year 2024 is in the future"
    assert fiscal_document_recency_error(None) == "recency: the form year could not be read"


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(1988, 8, 23), date(2006, 8, 22), 17),
        (date(1988, 8, 23), date(2006, 8, 23), 18),
        (date(2000, 2, 29), date(2018, 2, 28), 17),
        (date(2000, 2, 29), date(2018, 3, 1), 18),
    ],
)
def test_age_counts_birthdays(born: date, today: date, age: int) -> None:
    assert age_on(born, today) == age

"""Business rules about documents that depend on the date."""

from __future__ import annotations

from datetime import date


def fiscal_document_recency_error(
    form_year: int | None, *, today: date | None = None
) -> str | None:
    """A fiscal document must be for last year or this year; older ones are not recent enough.

    Returns the reason for rejecting it, or ``None`` when it is recent enough. A document whose
    year the tagger could not read is rejected too: nobody can show it is recent.
    """
    today = today or date.today()
    if form_year is None:
        return "recency: the form year could not be read"
    if form_year > today.year:
        return f"recency: form year {form_year} is in the future"
    if form_year < today.year - 1:
        return f"recency: form year {form_year} is older than {today.year - 1}"
    return None

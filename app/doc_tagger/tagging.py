"""The tagging rules: keyword and year detection on the document's text layer.

Deliberately simple: it stands in for a real parsing service so that the api has a downstream
dependency that takes time, can fail, and answers with structured tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from doc_tagger import __version__

_TYPE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("passport", ("passport", "reisepass")),
    ("id_card", ("identity card", "personalausweis", "carta d'identita")),
    ("tax_return", ("tax return", "einkommensteuer", "steuererklarung", "steuererklärung")),
    ("payslip", ("payslip", "lohnabrechnung", "gehaltsabrechnung")),
    ("bank_statement", ("bank statement", "kontoauszug")),
)
_YEAR_LABELLED = re.compile(
    r"(?:form|tax|fiscal|steuer)[ -]?(?:year|jahr)\s*[:=]?\s*((?:19|20)\d{2})", re.IGNORECASE
)
_ANY_YEAR = re.compile(r"\b((?:19|20)\d{2})\b")
_LANGUAGE_HINTS = {"de": ("steuer", "ausweis", "abrechnung", "konto"), "en": ("tax", "statement")}


class UnreadableDocument(Exception):  # noqa: N818 - a verdict on the document
    pass


@dataclass(frozen=True)
class Tags:
    document_type: str
    form_year: int | None
    language: str | None
    confidence: float
    tagger_version: str = __version__


def extract_text(content: bytes, media_type: str) -> str:
    if media_type == "application/pdf":
        if b"/Encrypt" in content:
            raise UnreadableDocument("encrypted PDF")
        return content.decode("latin-1").lower()
    # Images have no text layer; a real tagger would run OCR here.
    return ""


def tag_document(content: bytes, media_type: str, kind: str) -> Tags:
    text = extract_text(content, media_type)
    document_type = next(
        (name for name, words in _TYPE_KEYWORDS if any(word in text for word in words)), None
    )
    confidence = 0.9 if document_type else 0.4
    if document_type is None:
        document_type = "id_card" if kind == "id" else "unknown"
    year_match = _YEAR_LABELLED.search(text) or (
        _ANY_YEAR.search(text) if kind == "fiscal" else None
    )
    language = next(
        (lang for lang, hints in _LANGUAGE_HINTS.items() if any(hint in text for hint in hints)),
        None,
    )
    return Tags(
        document_type=document_type,
        form_year=int(year_match.group(1)) if year_match else None,
        language=language,
        confidence=confidence,
    )

from __future__ import annotations

import pytest

from doc_tagger.tagging import UnreadableDocument, tag_document
from loan_api.documents.exceptions import UnsupportedDocumentType
from loan_api.documents.service import check_media_type, clean_filename
from tests.support.documents import JPEG_HEADER, PNG_HEADER, pdf


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("passport.pdf", "passport.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\scan.png", "scan.png"),
        ("bad\x00name\x1f.pdf", "badname.pdf"),
        ("", "document"),
        (None, "document"),
        ("a" * 300, "a" * 255),
    ],
)
def test_filenames_are_cleaned(raw: str | None, clean: str) -> None:
    assert clean_filename(raw) == clean


@pytest.mark.parametrize(
    ("declared", "head", "expected"),
    [
        ("application/pdf", pdf("x")[:16], "application/pdf"),
        ("IMAGE/PNG; charset=binary", PNG_HEADER[:16], "image/png"),
        ("image/jpeg", JPEG_HEADER[:16], "image/jpeg"),
    ],
)
def test_allowed_media_types(declared: str, head: bytes, expected: str) -> None:
    assert check_media_type(declared, head) == expected


@pytest.mark.parametrize(
    ("declared", "head"),
    [
        (None, b"%PDF-"),
        ("text/plain", b"hello"),
        ("application/pdf", PNG_HEADER),
        ("image/png", b"%PDF-1.4"),
    ],
)
def test_refused_media_types(declared: str | None, head: bytes) -> None:
    with pytest.raises(UnsupportedDocumentType):
        check_media_type(declared, head)


@pytest.mark.parametrize(
    ("text", "kind", "document_type", "year"),
    [
        ("Tax return, form year 2024", "fiscal", "tax_return", 2024),
        ("Lohnabrechnung März 2025", "fiscal", "payslip", 2025),
        ("Kontoauszug", "fiscal", "bank_statement", None),
        ("Personalausweis", "id", "id_card", None),
        ("nothing to see, 1999", "id", "id_card", None),
        ("nothing to see, 1999", "fiscal", "unknown", 1999),
    ],
)
def test_tagging_rules(text: str, kind: str, document_type: str, year: int | None) -> None:
    tags = tag_document(pdf(text), "application/pdf", kind)
    assert (tags.document_type, tags.form_year) == (document_type, year)


def test_encrypted_pdf_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument):
        tag_document(pdf("Tax return", encrypted=True), "application/pdf", "fiscal")

"""Small, valid documents for tests and the load generator's twin in tests."""

from __future__ import annotations


def pdf(text: str, *, encrypted: bool = False) -> bytes:
    """A tiny PDF whose text layer holds ``text`` (enough for the tagger's keyword rules)."""
    trailer = b"/Encrypt 5 0 R\n" if encrypted else b""
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n("
        + text.encode()
        + b")\n"
        + trailer
        + b"%%EOF\n"
    )


PNG_HEADER = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG_HEADER = b"\xff\xd8\xff\xe0" + b"\x00" * 24

"""The tagger service through its HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from doc_tagger.main import create_app
from tests.support.asgi import serving
from tests.support.documents import PNG_HEADER, pdf


@pytest.fixture
async def tagger() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    async with serving(app, "http://tagger") as client:
        yield client


def _headers(media_type: str = "application/pdf", kind: str = "fiscal") -> dict[str, str]:
    return {"Content-Type": media_type, "X-Document-Kind": kind}


async def test_tags_a_tax_return_with_its_year(tagger: httpx.AsyncClient) -> None:
    response = await tagger.post(
        "/api/v1/tags", content=pdf("Einkommensteuer 2025, Steuerjahr: 2024"), headers=_headers()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["document_type"] == "tax_return"
    assert body["form_year"] == 2024
    assert body["language"] == "de"
    assert body["confidence"] == 0.9


async def test_image_of_an_id_has_no_text_layer(tagger: httpx.AsyncClient) -> None:
    response = await tagger.post(
        "/api/v1/tags", content=PNG_HEADER, headers=_headers("image/png", "id")
    )
    assert response.json()["document_type"] == "id_card"
    assert response.json()["confidence"] == 0.4


async def test_encrypted_pdf_is_unreadable(tagger: httpx.AsyncClient) -> None:
    response = await tagger.post(
        "/api/v1/tags", content=pdf("x", encrypted=True), headers=_headers()
    )
    assert response.status_code == 422
    assert response.json()["type"] == "urn:loan-desk:problem:unreadable"


async def test_bad_media_type_kind_and_missing_headers(tagger: httpx.AsyncClient) -> None:
    assert (
        await tagger.post("/api/v1/tags", content=b"x", headers=_headers("text/plain"))
    ).status_code == 415
    assert (
        await tagger.post("/api/v1/tags", content=b"x", headers=_headers(kind="car"))
    ).status_code == 422
    missing = await tagger.post(
        "/api/v1/tags", content=b"x", headers={"Content-Type": "application/pdf"}
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "header.x-document-kind"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        (
            {},
            "The request has no Content-Type; send the document as one of "
            "application/pdf, image/png, image/jpeg.",
        ),
        (
            {"Content-Type": ""},
            "The request has no Content-Type; send the document as one of "
            "application/pdf, image/png, image/jpeg.",
        ),
        (
            {"Content-Type": "Text/Plain; charset=utf-8"},
            "Cannot tag text/plain; send the document as one of "
            "application/pdf, image/png, image/jpeg.",
        ),
    ],
    ids=["absent", "empty", "text"],
)
async def test_unsupported_or_missing_content_type_is_named(
    tagger: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    response = await tagger.post(
        "/api/v1/tags", content=b"%PDF-1.4", headers={"X-Document-Kind": "id", **headers}
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"] == detail
    assert problem["allowed"] == ["application/pdf", "image/png", "image/jpeg"]

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import APIRouter

from loan_api.documents import router as documents
from tests.support.documents import JPEG_HEADER, PNG_HEADER, pdf
from tests.support.flows import create_application, upload
from tests.support.in_process import Api, api_client

FROZEN_NOW = datetime(2026, 8, 21, 12, 0, tzinfo=UTC)


async def _documents(api: Api, applicant) -> list[dict]:  # type: ignore[no-untyped-def]
    response = await api.client.get(f"{applicant.path}/documents", headers=applicant.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_upload_is_tagged_by_the_tagger_and_its_metadata_stored(api: Api) -> None:
    applicant = await create_application(api.client)
    content = pdf("Reisepass / Passport of Steve")
    response = await upload(api.client, applicant, content=content, filename="../../etc/pass.pdf")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["status"] == "tagged"
    assert document["tags"]["document_type"] == "passport"
    assert document["size_bytes"] == len(content)
    assert document["content_type"] == "application/pdf"
    assert document["filename"] == "pass.pdf"
    assert document["tagging_attempts"] == 1
    assert [d["id"] for d in await _documents(api, applicant)] == [document["id"]]
    assert (
        api.metric("loan_documents_tagged_total", {"kind": "id", "document_type": "passport"}) == 1
    )


@pytest.mark.parametrize(
    ("form_year", "status", "reason"),
    [
        (2026, "tagged", None),
        (2025, "tagged", None),
        (2024, "rejected", "recency: form year 2024 is older than 2025"),
    ],
)
async def test_fiscal_documents_must_be_recent(
    database_url: str, form_year: int, status: str, reason: str | None
) -> None:
    async with api_client(database_url, clock=lambda: FROZEN_NOW) as api:
        applicant = await create_application(api.client)
        response = await upload(
            api.client,
            applicant,
            content=pdf(f"Einkommensteuer tax return. Tax year: {form_year}"),
            kind="fiscal",
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == status
        assert body["tags"]["form_year"] == form_year
        assert body["rejection_reason"] == reason


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (b"plain text", "text/plain"),
        (PNG_HEADER, "application/pdf"),  # declared PDF, bytes are PNG
        (pdf("Passport"), "image/jpeg"),  # declared JPEG, bytes are PDF
        (JPEG_HEADER, "image/gif"),
    ],
)
async def test_wrong_or_mismatched_media_type_is_415_and_stores_nothing(
    api: Api, content: bytes, media_type: str
) -> None:
    applicant = await create_application(api.client)
    response = await upload(api.client, applicant, content=content, media_type=media_type)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["allowed"] == ["application/pdf", "image/jpeg", "image/png"]
    assert await _documents(api, applicant) == []


async def test_images_are_accepted(api: Api) -> None:
    applicant = await create_application(api.client)
    for content, media_type in ((PNG_HEADER, "image/png"), (JPEG_HEADER, "image/jpeg")):
        response = await upload(api.client, applicant, content=content, media_type=media_type)
        assert response.status_code == 201, response.text
        assert response.json()["tags"]["document_type"] == "id_card"


async def test_oversized_upload_is_413_and_stores_nothing(database_url: str) -> None:
    async with api_client(database_url, settings={"max_upload_bytes": 4096}) as api:
        applicant = await create_application(api.client)
        just_over = pdf("Passport" + "x" * 4096)
        response = await upload(api.client, applicant, content=just_over)
        assert response.status_code == 413, response.text
        assert response.json()["max_bytes"] == 4096
        # Far over the limit: refused by the streaming body limit before parsing.
        huge = pdf("x" * 500_000)
        response = await upload(api.client, applicant, content=huge)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert await _documents(api, applicant) == []
        ok = await upload(api.client, applicant, content=pdf("Passport"))
        assert ok.status_code == 201


async def test_empty_file_is_refused(api: Api) -> None:
    applicant = await create_application(api.client)
    response = await upload(api.client, applicant, content=b"")
    assert response.status_code == 422
    assert await _documents(api, applicant) == []


def _failing_transport(error: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (httpx.ConnectError("refused"), 502, "unavailable"),
        (httpx.ReadTimeout("slow"), 504, "timeout"),
    ],
)
async def test_tagger_failure_keeps_the_document_and_retry_tags_it(
    database_url: str, error: Exception, status: int, reason: str
) -> None:
    async with api_client(database_url, tagger_transport=_failing_transport(error)) as api:
        applicant = await create_application(api.client)
        response = await upload(api.client, applicant)
        assert response.status_code == status, response.text
        problem = response.json()
        assert problem["document_status"] == "tagging_failed"
        assert problem["retry"] == f"{applicant.path}/documents/{problem['document_id']}/tagging"
        assert problem["type"] == f"urn:loan-desk:problem:tagging-failed-{reason}"
        [stored] = await _documents(api, applicant)
        assert stored["id"] == problem["document_id"]
        assert stored["status"] == "tagging_failed"
        assert stored["failure_reason"] == reason
        assert api.metric("loan_tagger_failures_total", {"reason": reason}) == 1

    # The tagger is back: retrying tags the stored bytes.
    async with api_client(database_url) as api:
        response = await api.client.post(problem["retry"], headers=applicant.headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "tagged"
        assert response.json()["tagging_attempts"] == 2
        again = await api.client.post(problem["retry"], headers=applicant.headers)
        assert again.status_code == 409


async def test_tagger_error_status_and_bad_answers_are_failures(database_url: str) -> None:
    answers = iter([httpx.Response(500), httpx.Response(200, json={"document_type": "spaceship"})])
    transport = httpx.MockTransport(lambda request: next(answers))
    async with api_client(database_url, tagger_transport=transport) as api:
        applicant = await create_application(api.client)
        first = await upload(api.client, applicant)
        second = await upload(api.client, applicant)
        assert (first.status_code, second.status_code) == (502, 502)
        assert api.metric("loan_tagger_failures_total", {"reason": "unavailable"}) == 1
        assert api.metric("loan_tagger_failures_total", {"reason": "bad_response"}) == 1
        assert [d["status"] for d in await _documents(api, applicant)] == ["tagging_failed"] * 2


async def test_unreadable_document_is_rejected_without_a_retry(api: Api) -> None:
    """The tagger can never read an encrypted PDF: the document is stored as rejected and the
    problem offers no retry (only the 502/504 tagger failures do)."""
    applicant = await create_application(api.client)
    response = await upload(api.client, applicant, content=pdf("Tax return 2025", encrypted=True))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:loan-desk:problem:tagging-failed-rejected"
    assert problem["document_status"] == "rejected"
    assert "retry" not in problem
    assert "retry" not in problem["detail"]
    [stored] = await _documents(api, applicant)
    assert stored["id"] == problem["document_id"]
    assert (stored["status"], stored["failure_reason"], stored["rejection_reason"]) == (
        "rejected",
        None,
        "unreadable: the tagger cannot read this document",
    )
    assert api.metric("loan_tagger_failures_total", {"reason": "rejected"}) == 1
    # Asking anyway changes nothing: the tagger is not called again.
    retry = await api.client.post(
        f"{applicant.path}/documents/{stored['id']}/tagging", headers=applicant.headers
    )
    assert retry.status_code == 409
    assert retry.json()["type"] == "urn:loan-desk:problem:already-tagged"
    [after] = await _documents(api, applicant)
    assert after["tagging_attempts"] == 1


async def test_a_tagger_422_that_is_not_about_the_document_is_a_bad_response(
    database_url: str,
) -> None:
    """Only the tagger's ``unreadable`` verdict rejects a document; any other 422 (a request
    the tagger refused) is the api's fault, stored as tagging_failed and retryable."""
    problem = {"type": "urn:loan-desk:problem:validation-error", "status": 422}
    transport = httpx.MockTransport(lambda request: httpx.Response(422, json=problem))
    async with api_client(database_url, tagger_transport=transport) as api:
        applicant = await create_application(api.client)
        response = await upload(api.client, applicant)
        assert response.status_code == 502, response.text
        assert response.json()["type"] == "urn:loan-desk:problem:tagging-failed-bad-response"
        assert "retry" in response.json()
        assert api.metric("loan_tagger_failures_total", {"reason": "bad_response"}) == 1


async def test_documents_of_another_application_are_not_reachable(api: Api) -> None:
    alice = await create_application(api.client)
    bob = await create_application(api.client)
    document = (await upload(api.client, alice)).json()
    response = await api.client.post(
        f"{bob.path}/documents/{document['id']}/tagging", headers=bob.headers
    )
    assert response.status_code == 404
    assert await _documents(api, bob) == []


async def test_retry_link_keeps_the_api_version_the_caller_used(database_url: str) -> None:
    """The retry link is built from the route the request matched, not a fixed ``/api/v1``: the
    documents routes mounted under another version prefix (only v1 serves them today) answer a
    tagger failure with a link under that prefix, on upload and on a failed retry alike."""
    failing = _failing_transport(httpx.ConnectError("refused"))
    async with api_client(database_url, tagger_transport=failing) as api:
        v9 = APIRouter(prefix="/api/v9")
        v9.include_router(documents.router)
        api.app.include_router(v9)
        applicant = await create_application(api.client)
        collection = f"/api/v9/applications/{applicant.id}/documents"
        response = await api.client.post(
            collection,
            headers=applicant.headers,
            files={"file": ("scan.pdf", pdf("Reisepass"), "application/pdf")},
            data={"kind": "id"},
        )
        assert response.status_code == 502, response.text
        problem = response.json()
        link = f"{collection}/{problem['document_id']}/tagging"
        assert problem["retry"] == link
        again = await api.client.post(link, headers=applicant.headers)
        assert again.status_code == 502, again.text
        assert again.json()["retry"] == link

"""Both services' OpenAPI documents list every status an operation can answer, with the problem
document the services really send (``application/problem+json``, ``errors[]`` on validation).

tests/contract fuzzes the services against these documents; this file pins the documents
themselves and checks real problem answers against their ``Problem`` schema.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
from prometheus_client import CollectorRegistry

from doc_tagger.main import create_app as create_tagger_app
from tests.support.asgi import serving
from tests.support.flows import create_application
from tests.support.in_process import Api

PROBLEM = "application/problem+json"
PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}

APP = "/api/v1/applications/{application_id}"
API_OPERATIONS = {
    ("post", "/api/v1/applications"): {"201", "400", "413", "422", "500"},
    ("post", "/api/v2/applications"): {"201", "400", "413", "422", "500"},
    ("get", APP): {"200", "401", "403", "404", "422", "500"},
    ("put", f"{APP}/personal-details"): {"200", "400", "401", "403", "413", "422", "500"},
    ("put", f"{APP}/current-address"): {"200", "400", "401", "403", "413", "422", "500"},
    ("post", f"{APP}/documents"): {
        "201", "400", "401", "403", "413", "415", "422", "500", "502", "504",
    },
    ("get", f"{APP}/documents"): {"200", "401", "403", "422", "500"},
    ("post", f"{APP}/documents/{{document_id}}/tagging"): {
        "200", "401", "403", "404", "409", "422", "500", "502", "504",
    },
    ("post", f"{APP}/invite"): {"202", "401", "403", "404", "409", "422", "500", "502"},
    ("get", "/health/live"): {"200", "500"},
    ("get", "/health/ready"): {"200", "500", "503"},
}  # fmt: skip
TAGGER_OPERATIONS = {
    ("post", "/api/v1/tags"): {"200", "413", "415", "422", "500"},
    ("get", "/health/live"): {"200", "500"},
    ("get", "/health/ready"): {"200", "500"},  # no readiness check: never 503
}


@pytest.fixture
async def tagger() -> AsyncIterator[httpx.AsyncClient]:
    app = create_tagger_app(registry=CollectorRegistry())
    async with serving(app, "http://tagger") as client:
        yield client


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _check_document(document: dict[str, Any], expected: dict[tuple[str, str], set[str]]) -> None:
    operations = _operations(document)
    assert {key: set(op["responses"]) for key, op in operations.items()} == expected
    for key, operation in operations.items():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == PROBLEM_CONTENT, (key, status)
                assert response["description"], (key, status)
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert set(document["components"]["schemas"]) >= {"Problem", "FieldError"}
    problem = document["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail"]
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}


def _validate_problem(document: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    schema = {"$ref": "#/components/schemas/Problem", "components": document["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
    assert body["status"] == response.status_code
    return body


async def test_api_document_lists_every_problem_status(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    _check_document(document, API_OPERATIONS)
    auth = {"HTTPBearer": []}
    for (method, path), operation in _operations(document).items():
        needs_token = path.startswith(APP)
        assert (operation.get("security") == [auth]) is needs_token, (method, path)
        assert ("401" in operation["responses"]) is needs_token, (method, path)
        if needs_token:
            assert set(operation["responses"]["401"]["headers"]) == {"WWW-Authenticate"}


async def test_api_problems_match_the_documented_schema(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    applicant = await create_application(api.client)
    invalid = await api.client.post("/api/v1/applications", json={"amount": True})
    body = _validate_problem(document, invalid)
    assert {e["field"] for e in body["errors"]} == {
        "body.first_name",
        "body.last_name",
        "body.email",
        "body.product",
        "body.amount",
    }
    _validate_problem(document, await api.client.get(applicant.path))  # 401
    _validate_problem(
        document,
        await api.client.post(
            "/api/v1/applications", content=b"{", headers={"Content-Type": "application/json"}
        ),
    )  # 400
    incomplete = await api.client.post(f"{applicant.path}/invite", headers=applicant.headers)
    assert _validate_problem(document, incomplete)["missing_steps"] == [
        "personal_details",
        "current_address",
        "documents",
    ]
    too_large = await api.client.post(
        "/api/v1/applications",
        content=b"x" * (6 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert too_large.status_code == 413
    _validate_problem(document, too_large)


async def test_tagger_document_declares_its_body_and_problems(
    tagger: httpx.AsyncClient,
) -> None:
    document = (await tagger.get("/openapi.json")).json()
    _check_document(document, TAGGER_OPERATIONS)
    operation = document["paths"]["/api/v1/tags"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"application/pdf", "image/png", "image/jpeg"}
    # The Content-Type is the body's, not a header parameter (OpenAPI ignores those).
    assert [(p["name"], p["in"], p["required"]) for p in operation["parameters"]] == [
        ("x-document-kind", "header", True)
    ]
    kind = document["components"]["schemas"]["DocumentKind"]
    assert kind["enum"] == ["id", "fiscal"]
    unsupported = await tagger.post(
        "/api/v1/tags", content=b"x", headers={"X-Document-Kind": "id", "Content-Type": "a/b"}
    )
    assert unsupported.status_code == 415
    _validate_problem(document, unsupported)
    bad_kind = await tagger.post(
        "/api/v1/tags",
        content=b"%PDF-1.4",
        headers={"X-Document-Kind": "car", "Content-Type": "application/pdf"},
    )
    assert bad_kind.status_code == 422
    assert [e["field"] for e in _validate_problem(document, bad_kind)["errors"]] == [
        "header.x-document-kind"
    ]

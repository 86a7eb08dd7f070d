"""Each service's OpenAPI document: every operation says what it does (a summary of its own and
a description) and documents its error answers as problem documents; the tagger and the alert
receiver, which need no database, really answer every status they document.

The api's statuses are answered in the integration tier (tests/integration/test_openapi.py pins
its document, the module tests answer each status against SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CollectorRegistry

from alert_receiver.config import ReceiverSettings
from alert_receiver.main import create_app as create_receiver
from doc_tagger.config import TaggerSettings
from doc_tagger.main import create_app as create_tagger
from loan_api.config import Settings
from loan_api.main import create_app as create_api
from loan_desk_telemetry import Telemetry
from loan_desk_telemetry.testing import Capture, capture_telemetry
from tests.support.alert_payloads import notification

PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
TOKEN = "k3Jq9vXz2LmP8rTn5WcY7bHd4FgS6aQe"  # passes the admin token check
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
TAGGER_MAX_BYTES = 1024
RECEIVER_MAX_BYTES = 4096
PDF = b"%PDF-1.4\n(Reisepass / Passport)\n%%EOF\n"

Operation = tuple[str, str]  # (method, path template)


def _api(telemetry: Telemetry) -> FastAPI:
    return create_api(Settings(app_env="test"), registry=CollectorRegistry(), telemetry=telemetry)


def _tagger(telemetry: Telemetry) -> FastAPI:
    settings = TaggerSettings(
        admin_enabled=True, admin_token=TOKEN, tagger_max_document_bytes=TAGGER_MAX_BYTES
    )
    return create_tagger(settings, registry=CollectorRegistry(), telemetry=telemetry)


def _receiver(telemetry: Telemetry) -> FastAPI:
    settings = ReceiverSettings(
        admin_enabled=True, admin_token=TOKEN, alert_receiver_max_body_bytes=RECEIVER_MAX_BYTES
    )
    return create_receiver(settings, registry=CollectorRegistry(), telemetry=telemetry)


SERVICES: dict[str, Callable[[Telemetry], FastAPI]] = {
    "loan-api": _api,
    "doc-tagger": _tagger,
    "alert-receiver": _receiver,
}


@pytest.fixture
def build() -> Iterator[Callable[[str], FastAPI]]:
    """The service's app with in-memory telemetry, shut down after the test."""
    captures: list[Capture] = []

    def build_service(service: str) -> FastAPI:
        captures.append(capture_telemetry(service_name=service))
        return SERVICES[service](captures[-1].telemetry)

    yield build_service
    for capture in captures:
        capture.telemetry.shutdown()


def _operations(app: FastAPI) -> dict[Operation, dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    }


def _generated_summaries(app: FastAPI) -> dict[Operation, str]:
    """What FastAPI writes when a route names no summary: its function's name, titled."""
    return {
        (method.lower(), str(route.path)): str(route.name).replace("_", " ").title()
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_its_own_summary_and_a_description(
    service: str, build: Callable[[str], FastAPI]
) -> None:
    app = build(service)
    generated = _generated_summaries(app)
    operations = _operations(app)
    assert set(operations) == set(generated)
    for key, operation in operations.items():
        assert operation.get("summary"), key
        assert operation["summary"] != generated[key], key
        assert operation.get("description", "").strip(), key


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_an_operation_documents_is_a_problem_document(
    service: str, build: Callable[[str], FastAPI]
) -> None:
    for key, operation in _operations(build(service)).items():
        responses = operation["responses"]
        errors = {status for status in responses if int(status) >= 400}
        assert "500" in errors, key  # the unexpected, anywhere
        if "requestBody" in operation:
            assert {"413", "422"} <= errors, key  # the body limit and an invalid body
        if operation.get("parameters"):
            assert "422" in errors, key
        for status in errors:
            assert responses[status]["content"] == PROBLEM_CONTENT, (key, status)
            assert responses[status]["description"].strip(), (key, status)
        if "401" in errors:
            assert "WWW-Authenticate" in responses["401"]["headers"], key


# One request per documented (operation, status) of the services without a database. A new
# documented status without a request here fails the completeness test below.
Request = dict[str, Any]
TAGS = ("post", "/api/v1/tags")
NOTIFICATIONS = ("post", "/v1/notifications")
LIVE = ("get", "/health/live")
READY = ("get", "/health/ready")


def _tag(media_type: str = "application/pdf", kind: str = "id", body: bytes = PDF) -> Request:
    return {"content": body, "headers": {"Content-Type": media_type, "X-Document-Kind": kind}}


def _notify(body: bytes, media_type: str = "application/json") -> Request:
    return {"content": body, "headers": {"Content-Type": media_type}}


NOTIFICATION = json.dumps(notification()).encode()
REQUESTS: dict[str, dict[tuple[Operation, int], Request]] = {
    "doc-tagger": {
        (TAGS, 200): _tag(),
        (TAGS, 413): _tag(body=PDF + b"\0" * TAGGER_MAX_BYTES),
        (TAGS, 415): _tag(media_type="text/plain"),
        (TAGS, 422): _tag(kind="passport"),
        (TAGS, 500): _tag(),  # with the trainer's exception scenario on
        (LIVE, 200): {},
        (READY, 200): {},
    },
    "alert-receiver": {
        (NOTIFICATIONS, 200): _notify(NOTIFICATION),
        (NOTIFICATIONS, 400): _notify(b'{"version": '),
        (NOTIFICATIONS, 413): _notify(b" " * RECEIVER_MAX_BYTES + NOTIFICATION),
        (NOTIFICATIONS, 415): _notify(NOTIFICATION, media_type="text/plain"),
        (NOTIFICATIONS, 422): _notify(b'{"version": "3"}'),
        (NOTIFICATIONS, 500): _notify(NOTIFICATION),  # with the exception scenario on
        (LIVE, 200): {},
        (READY, 200): {},
    },
}
# Documented but not cheap to provoke: the trainer's scenarios never touch the probes, and
# nothing else makes them fail unexpectedly.
NOT_PROVOKED = {(LIVE, 500), (READY, 500)}


def _documented(app: FastAPI) -> set[tuple[Operation, int]]:
    return {
        (key, int(status))
        for key, operation in _operations(app).items()
        for status in operation["responses"]
    }


@pytest.mark.parametrize("service", REQUESTS)
def test_the_requests_cover_every_documented_status(
    service: str, build: Callable[[str], FastAPI]
) -> None:
    assert set(REQUESTS[service]) == _documented(build(service)) - NOT_PROVOKED


async def _answers(app: FastAPI, requests: dict[tuple[Operation, int], Request]) -> list[Any]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        for ((method, path), status), request in requests.items():
            if status == 500:
                switched = await client.put(
                    "/admin/scenarios/exceptions", json={"route": path}, headers=ADMIN
                )
                assert switched.status_code == 200, switched.text
            response = await client.request(method.upper(), path, **request)
            if status == 500:
                await client.delete("/admin/scenarios/exceptions", headers=ADMIN)
            answers.append((method, path, status, response))
    return answers


@pytest.mark.parametrize("service", REQUESTS)
def test_each_documented_status_is_answered(service: str, build: Callable[[str], FastAPI]) -> None:
    answers = asyncio.run(_answers(build(service), REQUESTS[service]))
    for method, path, status, response in answers:
        assert response.status_code == status, (method, path, response.text)
        if status >= 400:
            assert response.headers["content-type"] == "application/problem+json", (path, status)
            assert response.json()["status"] == status

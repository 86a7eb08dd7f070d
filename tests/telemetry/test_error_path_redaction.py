"""A failing statement leaves no personal data or secret in any telemetry sink, on SQLite and on
PostgreSQL.

Two statements are made to fail with planted values: creating an application whose token hash
collides with an existing one (``applications.token_hash`` is unique), and a second current
address once the test has put a unique index on ``addresses.application_id``. Both are real
constraint violations from the database, through the real api with its real engine. Then every
sink is searched: the stdout JSON lines, the OTLP log records (body and attributes), the spans of
both services (attributes, events, status) and the metrics page. Each search is shown to look in
the right place: the failure itself is in every sink, only the values are not.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from loan_api.applications import service as applications_service
from loan_api.migrate import upgrade
from loan_desk_telemetry import configure_logging
from tests.support.databases import DatabaseFactory, run_in_own_loop
from tests.support.flows import ADDRESS, application_body
from tests.support.in_process import api_client, shared_captures

FIRST_NAME = "Zebulonia"
LAST_NAME = "Quixotewright"
EMAIL = "zebulonia.quixotewright@example.org"
TOKEN = "lda_PlantedTokenValue0123456789abcdefghijklmnopq"
STREET = "Zebulonweg"
HOUSE_NUMBER = "77q"
POSTCODE = "ZQ9 7XW"
PLANTED = {
    "first name": FIRST_NAME,
    "last name": LAST_NAME,
    "e-mail": EMAIL,
    "token": TOKEN,
    "token hash": applications_service.hash_token(TOKEN),
    "street": STREET,
    "house number": f"'{HOUSE_NUMBER}'",
    "postcode": POSTCODE,
}


pytestmark = pytest.mark.usefixtures("clean_telemetry_state")


async def _one_address_per_application(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE UNIQUE INDEX test_one_address ON addresses (application_id)")
        )
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def failing_database(
    request: pytest.FixtureRequest,
    database_factory: DatabaseFactory,
) -> str:
    url = database_factory(str(request.param))
    upgrade(url)
    run_in_own_loop(_one_address_per_application(url))
    return url


def _span_view(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "status": [span.status.status_code.name, span.status.description],
    }


async def test_failing_statements_leave_no_values_in_any_sink(
    failing_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_capture, tagger_capture = shared_captures()
    api_capture.clear()
    tagger_capture.clear()
    registry = CollectorRegistry()
    monkeypatch.setattr(applications_service, "new_token", lambda: TOKEN)
    async with api_client(
        failing_database,
        telemetry=api_capture.telemetry,
        tagger_telemetry=tagger_capture.telemetry,
        registry=registry,
    ) as api:
        stdout = io.StringIO()
        configure_logging(service_name="loan-api", fmt="json", stream=stdout)
        # One OTLP handler per process, as in production (the fixture's reset took it away).
        handler = api_capture.telemetry.log_handler
        if handler not in logging.getLogger().handlers:
            logging.getLogger().addHandler(handler)  # type: ignore[arg-type]
        client = api.client

        first = await client.post("/api/v1/applications", json=application_body())
        assert first.status_code == 201, first.text
        path = f"/api/v1/applications/{first.json()['id']}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        address = await client.put(f"{path}/current-address", json=ADDRESS, headers=auth)
        assert address.status_code == 200, address.text

        # The same token again: its hash collides, the INSERT fails in the database.
        collided = await client.post(
            "/api/v1/applications",
            json=application_body(first_name=FIRST_NAME, last_name=LAST_NAME, email=EMAIL),
        )
        assert collided.status_code == 500, collided.text
        # A second address: the test's unique index refuses it.
        planted_address = ADDRESS | {
            "street": STREET,
            "house_number": HOUSE_NUMBER,
            "postcode": POSTCODE,
        }
        refused = await client.put(f"{path}/current-address", json=planted_address, headers=auth)
        assert refused.status_code == 500, refused.text
        for response in (collided, refused):
            assert not any(value in response.text for value in PLANTED.values())

    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    records = [r.log_record for r in api_capture.log_records() + tagger_capture.log_records()]
    record_views = [
        {
            "severity": r.severity_text,
            "body": str(r.body),
            "attributes": dict(r.attributes or {}),
        }
        for r in records
    ]
    spans = api_capture.spans() + tagger_capture.spans()
    span_views = [_span_view(s) for s in spans]
    metrics = generate_latest(registry).decode()

    sinks = {
        "stdout": json.dumps(lines),
        "otlp log records": json.dumps(record_views, default=str),
        "spans": json.dumps(span_views, default=str),
        "metrics": metrics,
    }
    leaks = [
        f"{what} in {sink}"
        for sink, haystack in sinks.items()
        for what, value in PLANTED.items()
        if value in haystack
    ]
    assert not leaks, leaks

    # The searches looked in the right places: each sink holds both failures, with the type,
    # the constraint and the statement, and the SQL parameters hidden by the engine itself.
    errors = [line for line in lines if line["level"] == "error" and "exception" in line]
    assert len({line["trace_id"] for line in errors}) == 2, errors
    for line in errors:
        assert "IntegrityError" in line["exception"]
        assert "[SQL parameters hidden due to hide_parameters=True]" in line["exception"]
    assert any("INSERT INTO applications" in line["exception"] for line in errors)
    assert any("INSERT INTO addresses" in line["exception"] for line in errors)
    if failing_database.startswith("postgresql"):
        # asyncpg's own message carries the row values in PostgreSQL's DETAIL, whatever the
        # engine hides: redacted, with the column names kept.
        detail = "DETAIL:  Key (token_hash)=([REDACTED]) already exists."
        assert any(detail in line["exception"] for line in errors), errors

    otlp_errors = [v for v in record_views if v["severity"] == "ERROR"]
    assert {v["attributes"]["exception.type"] for v in otlp_errors} == {"IntegrityError"}
    assert all("IntegrityError" in v["attributes"]["exception.stacktrace"] for v in otlp_errors)

    def failed(name: str, kind: SpanKind) -> Any:
        (span,) = [
            s
            for s in spans
            if s.name == name and s.kind is kind and s.status.status_code is StatusCode.ERROR
        ]
        (event,) = [e for e in span.events if e.name == "exception"]
        assert "IntegrityError" in str(event.attributes["exception.stacktrace"])
        assert "[SQL parameters hidden" in str(event.attributes["exception.message"])
        return span

    failed("POST /api/v1/applications", SpanKind.SERVER)
    failed("PUT /api/v1/applications/{application_id}/current-address", SpanKind.SERVER)
    create = failed("applications.create", SpanKind.INTERNAL)
    assert "IntegrityError" in str(create.status.description)
    statements = [
        s
        for s in spans
        if s.kind is SpanKind.CLIENT
        and {"db.statement", "db.query.text"} & set(s.attributes or {})
        and s.status.status_code is StatusCode.ERROR
    ]
    assert len(statements) == 2, [_span_view(s) for s in statements]
    assert all(s.status.description for s in statements)

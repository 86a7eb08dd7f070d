"""Hostile input is a 422 problem naming the field, on SQLite and on PostgreSQL.

Control characters in free text (PostgreSQL cannot store NUL: it was a 500 there), JSON values of
the wrong type (``true`` was a loan of 1), implausible dates, and money echoed in the contract's
form.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.flows import ADDRESS, PERSONAL_DETAILS, application_body, create_application
from tests.support.in_process import Api, api_client

PROBLEM = "application/problem+json"
FROZEN_NOW = datetime(2026, 8, 21, 12, 0, tzinfo=UTC)

V2_BODY: dict[str, Any] = {
    "applicant": {"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com"},
    "loan": {"product": "credit", "amount": {"value": "1500.50", "currency": "EUR"}},
}


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with ``value`` at ``path``."""
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


async def _send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    # json.dumps escapes every non-ASCII character (``\u0000``, ``\ud800``), as a hostile
    # client's JSON would.
    return await client.request(
        method,
        url,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _assert_field_problem(response: httpx.Response, field: str, error_type: str) -> None:
    assert response.status_code == 422, (response.request.content, response.text)
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "urn:loan-desk:problem:validation-error"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [(field, error_type)]
    assert problem["detail"] == f"The request has invalid fields: {field}."


# NUL, another C0 control, a line break, DEL, a C1 control (NEL), a lone surrogate.
CONTROL_CHARACTERS = ["\x00", "\x1b", "\n", "\x7f", "\x85", "\ud800"]

CREATE_FIELDS = [
    ("/api/v1/applications", application_body(), ("first_name",)),
    ("/api/v1/applications", application_body(), ("last_name",)),
    ("/api/v2/applications", V2_BODY, ("applicant", "first_name")),
    ("/api/v2/applications", V2_BODY, ("applicant", "last_name")),
]


@pytest.mark.parametrize(
    ("url", "body", "path"),
    CREATE_FIELDS,
    ids=[f"{u[5:7]}-{'.'.join(p)}" for u, _, p in CREATE_FIELDS],
)
async def test_control_characters_in_names_are_refused_on_create(
    api: Api, url: str, body: dict[str, Any], path: tuple[str, ...]
) -> None:
    for character in CONTROL_CHARACTERS:
        value = f"Ste{character}ve"
        response = await _send(api.client, "POST", url, _with(body, path, value))
        _assert_field_problem(response, "body." + ".".join(path), "control_character")
    version = url.split("/")[2]
    product = body["product"] if version == "v1" else body["loan"]["product"]
    labels = {"api_version": version, "product": product}
    assert api.metric("loan_applications_created_total", labels) == 0


STEP_FIELDS = [
    ("personal-details", PERSONAL_DETAILS, "place_of_birth"),
    ("current-address", ADDRESS, "street"),
    ("current-address", ADDRESS, "house_number"),
    ("current-address", ADDRESS, "postcode"),
    ("current-address", ADDRESS, "city"),
]


@pytest.mark.parametrize(("step", "body", "field"), STEP_FIELDS, ids=[f for _, _, f in STEP_FIELDS])
async def test_control_characters_in_details_and_address_are_refused(
    api: Api, step: str, body: dict[str, str], field: str
) -> None:
    applicant = await create_application(api.client)
    for character in CONTROL_CHARACTERS:
        # Inside the value: trimming would not remove it, and the postcode's own pattern
        # allows the rest.
        value = body[field][:2] + character + body[field][2:]
        response = await _send(
            api.client,
            "PUT",
            f"{applicant.path}/{step}",
            {**body, field: value},
            headers=applicant.headers,
        )
        _assert_field_problem(response, f"body.{field}", "control_character")
    progress = (await api.client.get(applicant.path, headers=applicant.headers)).json()["progress"]
    assert progress == {
        "personal_details": False,
        "current_address": False,
        "documents_uploaded": 0,
        "documents_tagged": 0,
        "invited": False,
    }


async def test_names_and_addresses_in_any_script_are_stored_and_read_back(api: Api) -> None:
    """The control-character rule refuses only controls: letters, marks, apostrophes, hyphens
    and joiners of every script still pass, on both databases."""
    created = await _send(
        api.client,
        "POST",
        "/api/v1/applications",
        application_body(
            first_name="Zoë Ñúñez-O'Brien",
            last_name="\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627 \uae40",
        ),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    path = f"/api/v1/applications/{body['id']}"
    details = await _send(
        api.client,
        "PUT",
        f"{path}/personal-details",
        {**PERSONAL_DETAILS, "place_of_birth": "Łódź"},
        headers=headers,
    )
    address = await _send(
        api.client,
        "PUT",
        f"{path}/current-address",
        {**ADDRESS, "street": "Rue de l'Église", "house_number": "12 b", "city": "Saint-Étienne"},
        headers=headers,
    )
    assert (details.status_code, address.status_code) == (200, 200), (details.text, address.text)
    read = await api.client.get(path, headers=headers)
    assert read.json()["progress"]["current_address"] is True


@pytest.mark.parametrize(
    ("amount", "error_type"),
    [
        (True, "int_type"),
        ("100", "int_type"),
        (100.5, "int_from_float"),
        (None, "int_type"),
        ([100], "int_type"),
        (0, "greater_than"),
        (10_000_001, "less_than_equal"),
    ],
    ids=repr,
)
async def test_v1_amount_is_a_json_integer_in_range(api: Api, amount: Any, error_type: str) -> None:
    response = await _send(
        api.client, "POST", "/api/v1/applications", application_body(amount=amount)
    )
    _assert_field_problem(response, "body.amount", error_type)
    labels = {"api_version": "v1", "product": "mortgage"}
    assert api.metric("loan_applications_created_total", labels) == 0


async def test_v1_amount_of_a_whole_number_written_as_float_is_accepted(api: Api) -> None:
    """JSON Schema's ``integer`` (the documented type) includes ``100.0``."""
    created = await _send(
        api.client, "POST", "/api/v1/applications", application_body(amount=100.0)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    read = await api.client.get(
        f"/api/v1/applications/{body['id']}", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert read.json()["amount"] == "100.00"


@pytest.mark.parametrize(
    ("value", "error_type"),
    [
        (True, "decimal_type"),
        (None, "decimal_type"),
        ({"amount": 5}, "decimal_type"),
        ("1e5", "decimal_format"),
        ("1,500.00", "decimal_format"),
        (" 15", "decimal_format"),
        ("NaN", "decimal_format"),
        ("-5", "decimal_format"),
        ("0", "greater_than"),
        ("1500.505", "decimal_max_places"),
        ("10000000.01", "less_than_equal"),
    ],
    ids=repr,
)
async def test_v2_money_takes_numbers_and_plain_decimal_strings_only(
    api: Api, value: Any, error_type: str
) -> None:
    body = _with(V2_BODY, ("loan", "amount", "value"), value)
    response = await _send(api.client, "POST", "/api/v2/applications", body)
    _assert_field_problem(response, "body.loan.amount.value", error_type)


@pytest.mark.parametrize(
    ("value", "echoed"),
    [
        (1e5, "100000.00"),
        (100000, "100000.00"),
        ("1500.5", "1500.50"),
        (1500.5, "1500.50"),
        ("0.01", "0.01"),
        ("10000000", "10000000.00"),
    ],
    ids=repr,
)
async def test_v2_money_is_echoed_with_two_decimal_places(
    api: Api, value: Any, echoed: str
) -> None:
    """The v2 schema promises plain decimal notation with two places, whatever came in."""
    body = _with(V2_BODY, ("loan", "amount", "value"), value)
    response = await _send(api.client, "POST", "/api/v2/applications", body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["application"]["loan"]["amount"] == {"value": echoed, "currency": "EUR"}
    headers = {"Authorization": f"Bearer {created['credentials']['token']}"}
    read = await api.client.get(
        f"/api/v1/applications/{created['application']['id']}", headers=headers
    )
    assert read.json()["amount"] == echoed


@pytest.mark.parametrize(
    ("date_of_birth", "error_type"),
    [
        (0, "date_format"),
        (19880823, "date_format"),
        (None, "date_format"),
        ("23.08.1988", "date_format"),
        ("1988-08-23T00:00:00", "date_format"),
        ("1988-02-30", "date_from_datetime_parsing"),
        ("0001-01-01", "greater_than_equal"),
        ("1899-12-31", "greater_than_equal"),
    ],
    ids=repr,
)
async def test_date_of_birth_is_an_iso_date_string_in_a_plausible_range(
    api: Api, date_of_birth: Any, error_type: str
) -> None:
    applicant = await create_application(api.client)
    response = await _send(
        api.client,
        "PUT",
        f"{applicant.path}/personal-details",
        {**PERSONAL_DETAILS, "date_of_birth": date_of_birth},
        headers=applicant.headers,
    )
    _assert_field_problem(response, "body.date_of_birth", error_type)


@pytest.mark.parametrize(
    ("date_of_birth", "status", "problem_type"),
    [
        ("2026-08-22", 422, "date-of-birth-in-future"),
        ("2999-01-01", 422, "date-of-birth-in-future"),
        ("2026-08-21", 422, "applicant-too-young"),  # born today: not in the future
        ("2008-08-22", 422, "applicant-too-young"),  # 18 tomorrow
        ("2008-08-21", 200, None),  # 18 today
        ("1900-01-01", 200, None),
    ],
)
async def test_a_future_birth_date_is_its_own_problem(
    database_url: str, date_of_birth: str, status: int, problem_type: str | None
) -> None:
    async with api_client(database_url, clock=lambda: FROZEN_NOW) as api:
        applicant = await create_application(api.client)
        response = await api.client.put(
            f"{applicant.path}/personal-details",
            json={**PERSONAL_DETAILS, "date_of_birth": date_of_birth},
            headers=applicant.headers,
        )
        assert response.status_code == status, response.text
        if problem_type is None:
            return
        problem = response.json()
        assert response.headers["content-type"] == PROBLEM
        assert problem["type"] == f"urn:loan-desk:problem:{problem_type}"
        if problem_type == "date-of-birth-in-future":
            assert problem["errors"] == [
                {
                    "field": "body.date_of_birth",
                    "message": "The date of birth must not be in the future.",
                    "type": "date_in_future",
                }
            ]
        progress = (await api.client.get(applicant.path, headers=applicant.headers)).json()
        assert progress["progress"]["personal_details"] is False

from __future__ import annotations

import pytest

from tests.support.flows import (
    ADDRESS,
    PERSONAL_DETAILS,
    application_body,
    complete_application,
    create_application,
)
from tests.support.in_process import Api

PROBLEM = "application/problem+json"


async def test_create_v1_returns_a_token_that_reads_the_application(api: Api) -> None:
    applicant = await create_application(api.client)
    assert applicant.token.startswith("lda_")

    response = await api.client.get(applicant.path, headers=applicant.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == applicant.id
    assert body["status"] == "draft"
    assert body["amount"] == "250000.00"
    assert body["progress"] == {
        "personal_details": False,
        "current_address": False,
        "documents_uploaded": 0,
        "documents_tagged": 0,
        "invited": False,
    }
    assert body["created_at"].endswith(("+00:00", "Z"))


async def test_v2_create_has_its_own_contract_beside_v1(api: Api) -> None:
    response = await api.client.post(
        "/api/v2/applications",
        json={
            "applicant": {"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com"},
            "loan": {"product": "credit", "amount": {"value": "1500.50", "currency": "EUR"}},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["credentials"]["token_type"] == "Bearer"
    assert body["application"]["loan"]["amount"] == {"value": "1500.50", "currency": "EUR"}
    headers = {"Authorization": f"Bearer {body['credentials']['token']}"}
    read = await api.client.get(
        f"/api/v1/applications/{body['application']['id']}", headers=headers
    )
    assert read.json()["amount"] == "1500.50"

    # The v1 body is not a v2 body, and the other way round.
    v1_on_v2 = await api.client.post("/api/v2/applications", json=application_body())
    assert v1_on_v2.status_code == 422
    assert {e["field"] for e in v1_on_v2.json()["errors"]} >= {"body.applicant", "body.loan"}


async def test_business_counter_counts_each_created_application_once(api: Api) -> None:
    for _ in range(3):
        await create_application(api.client)
    await create_application(api.client, product="credit")
    assert (
        api.metric("loan_applications_created_total", {"api_version": "v1", "product": "mortgage"})
        == 3
    )
    assert (
        api.metric("loan_applications_created_total", {"api_version": "v1", "product": "credit"})
        == 1
    )


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer lda_not-a-real-token", "Bearer something-else", "Basic dXNlcjpwYXNz"],
)
async def test_missing_or_invalid_token_is_401_problem(api: Api, authorization: str | None) -> None:
    applicant = await create_application(api.client)
    headers = {"Authorization": authorization} if authorization else {}
    response = await api.client.get(applicant.path, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:loan-desk:problem:not-authenticated"


async def test_another_applications_token_is_403_whether_or_not_the_target_exists(api: Api) -> None:
    alice = await create_application(api.client)
    bob = await create_application(api.client)
    assert (await api.client.get(bob.path, headers=alice.headers)).status_code == 403
    unknown = "/api/v1/applications/00000000-0000-4000-8000-000000000000"
    assert (await api.client.get(unknown, headers=alice.headers)).status_code == 403
    put = await api.client.put(f"{bob.path}/current-address", json=ADDRESS, headers=alice.headers)
    assert put.status_code == 403


async def test_personal_details_and_address_complete_their_steps(api: Api) -> None:
    applicant = await create_application(api.client)
    details = await api.client.put(
        f"{applicant.path}/personal-details", json=PERSONAL_DETAILS, headers=applicant.headers
    )
    address = await api.client.put(
        f"{applicant.path}/current-address", json=ADDRESS, headers=applicant.headers
    )
    assert details.json() == {"success": True}
    assert address.json() == {"success": True}
    progress = (await api.client.get(applicant.path, headers=applicant.headers)).json()["progress"]
    assert progress["personal_details"] is True
    assert progress["current_address"] is True


async def test_applicant_under_18_is_refused(api: Api) -> None:
    applicant = await create_application(api.client)
    response = await api.client.put(
        f"{applicant.path}/personal-details",
        json={**PERSONAL_DETAILS, "date_of_birth": "2020-01-01"},
        headers=applicant.headers,
    )
    assert response.status_code == 422
    assert response.json()["type"] == "urn:loan-desk:problem:applicant-too-young"
    progress = (await api.client.get(applicant.path, headers=applicant.headers)).json()["progress"]
    assert progress["personal_details"] is False


async def test_validation_errors_name_the_fields_and_never_echo_input(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/applications",
        json=application_body(email="not-an-email", amount=-5, unexpected="x"),
    )
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert {e["field"] for e in body["errors"]} == {"body.email", "body.amount", "body.unexpected"}
    assert "not-an-email" not in response.text
    assert set(body) >= {"type", "title", "status", "detail"}


async def test_malformed_json_is_a_400_problem(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/applications",
        content=b'{"first_name": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "urn:loan-desk:problem:malformed-json"


async def test_unknown_route_and_wrong_method_are_json_problems(api: Api) -> None:
    unknown = await api.client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM
    assert unknown.json()["title"] == "Not Found"
    wrong_method = await api.client.delete("/api/v1/applications")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == PROBLEM


async def test_full_flow_ends_invited(api: Api) -> None:
    applicant = await complete_application(api.client)
    body = (await api.client.get(applicant.path, headers=applicant.headers)).json()
    assert body["status"] == "invited"
    assert body["progress"]["invited"] is True
    assert len(api.emailer.sent) == 1
    assert api.emailer.sent[0]["to"] == "steve.schulze@example.com"

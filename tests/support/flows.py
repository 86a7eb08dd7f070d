"""The application flow as a client walks it, shared by the integration and telemetry tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.documents import pdf


@dataclass(frozen=True)
class Applicant:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def path(self) -> str:
        return f"/api/v1/applications/{self.id}"


def application_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Steve",
        "last_name": "Schulze",
        "email": "steve.schulze@example.com",
        "product": "mortgage",
        "amount": 250_000,
    }
    body.update(overrides)
    return body


PERSONAL_DETAILS = {"date_of_birth": "1988-08-23", "place_of_birth": "Berlin", "nationality": "DE"}
ADDRESS = {
    "street": "Musterstraße",
    "house_number": "11",
    "postcode": "12345",
    "city": "Musterstadt",
    "country": "DE",
}


async def create_application(client: httpx.AsyncClient, **overrides: Any) -> Applicant:
    response = await client.post("/api/v1/applications", json=application_body(**overrides))
    assert response.status_code == 201, response.text
    body = response.json()
    return Applicant(id=body["id"], token=body["token"])


async def upload(
    client: httpx.AsyncClient,
    applicant: Applicant,
    *,
    content: bytes | None = None,
    media_type: str = "application/pdf",
    kind: str = "id",
    filename: str = "passport.pdf",
) -> httpx.Response:
    return await client.post(
        f"{applicant.path}/documents",
        headers=applicant.headers,
        files={"file": (filename, content if content is not None else pdf("Passport"), media_type)},
        data={"kind": kind},
    )


async def complete_application(client: httpx.AsyncClient) -> Applicant:
    """create -> personal details -> address -> upload (tagged) -> invite."""
    applicant = await create_application(client)
    response = await client.put(
        f"{applicant.path}/personal-details", json=PERSONAL_DETAILS, headers=applicant.headers
    )
    assert response.status_code == 200, response.text
    response = await client.put(
        f"{applicant.path}/current-address", json=ADDRESS, headers=applicant.headers
    )
    assert response.status_code == 200, response.text
    response = await upload(client, applicant)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "tagged", response.text
    response = await client.post(f"{applicant.path}/invite", headers=applicant.headers)
    assert response.status_code == 202, response.text
    return applicant

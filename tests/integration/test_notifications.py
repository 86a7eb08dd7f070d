from __future__ import annotations

from tests.support.flows import ADDRESS, PERSONAL_DETAILS, create_application, upload
from tests.support.in_process import Api


async def test_invite_waits_for_a_complete_application(api: Api) -> None:
    applicant = await create_application(api.client)
    response = await api.client.post(f"{applicant.path}/invite", headers=applicant.headers)
    assert response.status_code == 409
    assert response.json()["missing_steps"] == ["personal_details", "current_address", "documents"]
    assert api.emailer.sent == []


async def test_failed_email_is_reported_and_not_counted_as_invited(api: Api) -> None:
    applicant = await create_application(api.client)
    await api.client.put(
        f"{applicant.path}/personal-details", json=PERSONAL_DETAILS, headers=applicant.headers
    )
    await api.client.put(
        f"{applicant.path}/current-address", json=ADDRESS, headers=applicant.headers
    )
    assert (await upload(api.client, applicant)).status_code == 201
    api.emailer.fail = True
    response = await api.client.post(f"{applicant.path}/invite", headers=applicant.headers)
    assert response.status_code == 502
    assert response.json()["type"] == "urn:loan-desk:problem:email-not-sent"
    body = (await api.client.get(applicant.path, headers=applicant.headers)).json()
    assert body["status"] == "complete"
    assert body["progress"]["invited"] is False

    api.emailer.fail = False
    assert (
        await api.client.post(f"{applicant.path}/invite", headers=applicant.headers)
    ).status_code == 202
    assert len(api.emailer.sent) == 1

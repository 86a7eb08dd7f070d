"""HTTP routes of the notifications module."""

from __future__ import annotations

from fastapi import APIRouter, status

from loan_api.applications.dependencies import AuthorizedApplication
from loan_api.dependencies import ClockDep, ConnectionDep, EmailerDep
from loan_api.notifications import service
from loan_api.notifications.schemas import InviteAccepted
from servicekit.openapi import problem_responses

router = APIRouter(prefix="/applications/{application_id}", tags=["notifications"])


@router.post(
    "/invite",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send the invite",
    responses=problem_responses(
        401,
        403,
        404,
        409,
        502,
        descriptions={
            409: "The application is not complete yet (`missing_steps`).",
            502: "The mail relay did not take the e-mail; try again.",
        },
    ),
)
async def send_invite(
    application: AuthorizedApplication,
    connection: ConnectionDep,
    emailer: EmailerDep,
    clock: ClockDep,
) -> InviteAccepted:
    """Once every step is done (409 lists the `missing_steps` otherwise): e-mail the applicant
    that the application is complete."""
    notification_id = await service.send_invite(
        connection, application_id=application.id, emailer=emailer, now=clock()
    )
    return InviteAccepted(notification_id=notification_id)

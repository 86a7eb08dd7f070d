"""HTTP routes of the applications module: v1 and v2 side by side."""

from __future__ import annotations

from fastapi import APIRouter, status

from loan_api.applications import service
from loan_api.applications.dependencies import AuthorizedApplication
from loan_api.applications.schemas import (
    AddressSubmit,
    ApplicationCreatedV1,
    ApplicationCreatedV2,
    ApplicationCreateV1,
    ApplicationCreateV2,
    ApplicationRead,
    ApplicationStatus,
    ApplicationSummaryV2,
    Credentials,
    PersonalDetailsSubmit,
    StepAccepted,
)
from loan_api.dependencies import ClockDep, ConnectionDep, MetricsDep
from loan_api.documents import service as documents
from loan_api.notifications import service as notifications
from servicekit.openapi import problem_responses

router_v1 = APIRouter(prefix="/applications", tags=["applications"])
router_v2 = APIRouter(prefix="/applications", tags=["applications v2"])


@router_v1.post("", status_code=status.HTTP_201_CREATED, summary="Start an application (v1)")
async def create_application_v1(
    body: ApplicationCreateV1,
    connection: ConnectionDep,
    metrics: MetricsDep,
    clock: ClockDep,
) -> ApplicationCreatedV1:
    """A draft application from the applicant's name and e-mail, the product and the amount in
    whole euros. The answer holds the bearer token the next steps need."""
    application_id, token = await service.create_application(
        connection,
        first_name=body.first_name,
        last_name=body.last_name,
        email=str(body.email),
        product=body.product,
        amount_cents=body.amount * 100,
        currency="EUR",
        api_version="v1",
        now=clock(),
    )
    metrics.applications_created.labels(api_version="v1", product=body.product.value).inc()
    return ApplicationCreatedV1(id=application_id, token=token, status=ApplicationStatus.draft)


@router_v2.post("", status_code=status.HTTP_201_CREATED, summary="Start an application (v2)")
async def create_application_v2(
    body: ApplicationCreateV2,
    connection: ConnectionDep,
    metrics: MetricsDep,
    clock: ClockDep,
) -> ApplicationCreatedV2:
    """As v1, with the applicant and the loan as nested objects and the amount a decimal with
    its currency; the bearer token comes under `credentials`."""
    amount_cents = int((body.loan.amount.value * 100).to_integral_value())
    application_id, token = await service.create_application(
        connection,
        first_name=body.applicant.first_name,
        last_name=body.applicant.last_name,
        email=str(body.applicant.email),
        product=body.loan.product,
        amount_cents=amount_cents,
        currency=body.loan.amount.currency,
        api_version="v2",
        now=clock(),
    )
    metrics.applications_created.labels(api_version="v2", product=body.loan.product.value).inc()
    return ApplicationCreatedV2(
        application=ApplicationSummaryV2(
            id=application_id, status=ApplicationStatus.draft, loan=body.loan
        ),
        credentials=Credentials(token=token),
    )


@router_v1.get(
    "/{application_id}",
    summary="Read an application",
    responses=problem_responses(401, 403, 404),
)
async def read_application(
    application: AuthorizedApplication, connection: ConnectionDep
) -> ApplicationRead:
    """Its status, the steps done, the documents uploaded and tagged, and whether the invite
    went out."""
    counts = await documents.count_documents(connection, application_id=application.id)
    invited = await notifications.was_invited(connection, application_id=application.id)
    return await service.get_application(
        connection,
        application_id=application.id,
        documents_uploaded=counts.uploaded,
        documents_tagged=counts.tagged,
        invited=invited,
    )


@router_v1.put(
    "/{application_id}/personal-details",
    summary="Submit personal details",
    responses=problem_responses(401, 403),
)
async def submit_personal_details(
    body: PersonalDetailsSubmit,
    application: AuthorizedApplication,
    connection: ConnectionDep,
    clock: ClockDep,
) -> StepAccepted:
    """Date and place of birth and nationality; sending them again replaces them."""
    await service.submit_personal_details(
        connection, application_id=application.id, details=body, now=clock()
    )
    return StepAccepted()


@router_v1.put(
    "/{application_id}/current-address",
    summary="Submit the current address",
    responses=problem_responses(401, 403),
)
async def submit_current_address(
    body: AddressSubmit,
    application: AuthorizedApplication,
    connection: ConnectionDep,
    clock: ClockDep,
) -> StepAccepted:
    """Street, house number, postcode, city and country; sending it again replaces it."""
    await service.submit_current_address(
        connection, application_id=application.id, address=body, now=clock()
    )
    return StepAccepted()


__all__ = ["router_v1", "router_v2"]

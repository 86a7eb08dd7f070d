"""Request-scoped dependencies of the applications module; ``AuthorizedApplication`` is public."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loan_api.applications import service
from loan_api.applications.exceptions import NotAuthenticated, NotYourApplication
from loan_api.applications.schemas import ApplicationRef
from loan_api.dependencies import ConnectionDep

_bearer = HTTPBearer(
    auto_error=False, description="The token returned when the application was created."
)


async def authorized_application(
    application_id: UUID,
    connection: ConnectionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApplicationRef:
    """401 without a valid token; 403 when the token belongs to another application.

    A valid token for another application gets 403 whether or not ``application_id`` exists, so
    the answer tells nothing about other applicants.
    """
    if credentials is None:
        raise NotAuthenticated
    owner = await service.find_application_by_token(connection, token=credentials.credentials)
    if owner is None:
        raise NotAuthenticated
    if owner != application_id:
        raise NotYourApplication
    return ApplicationRef(id=owner)


AuthorizedApplication = Annotated[ApplicationRef, Depends(authorized_application)]

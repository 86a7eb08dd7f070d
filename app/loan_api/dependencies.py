"""Dependencies every module shares: the container's objects and a request-scoped connection.

Services manage their own transactions (``await connection.commit()``), so nothing depends on
when FastAPI runs the exit code of a dependency with ``yield``; an uncommitted transaction is
rolled back when the connection closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from loan_api.config import Settings
from loan_api.container import Clock, Container
from loan_api.documents.client import TaggerClient
from loan_api.metrics import BusinessMetrics
from loan_api.notifications.emailer import Emailer


def get_container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


ContainerDep = Annotated[Container, Depends(get_container)]


def get_settings(container: ContainerDep) -> Settings:
    return container.settings


def get_tagger(container: ContainerDep) -> TaggerClient:
    return container.tagger


def get_emailer(container: ContainerDep) -> Emailer:
    return container.emailer


def get_metrics(container: ContainerDep) -> BusinessMetrics:
    return container.metrics


def get_clock(container: ContainerDep) -> Clock:
    return container.clock


async def get_connection(container: ContainerDep) -> AsyncIterator[AsyncConnection]:
    async with container.engine.connect() as connection:
        yield connection


SettingsDep = Annotated[Settings, Depends(get_settings)]
TaggerDep = Annotated[TaggerClient, Depends(get_tagger)]
EmailerDep = Annotated[Emailer, Depends(get_emailer)]
MetricsDep = Annotated[BusinessMetrics, Depends(get_metrics)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ConnectionDep = Annotated[AsyncConnection, Depends(get_connection)]

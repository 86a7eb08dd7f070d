"""The composition root: long-lived objects built once in the lifespan, closed at shutdown.

Request-scoped things (a database connection, the authorised application) come from FastAPI's
``Depends``; long-lived ones (settings, engine, tagger client, e-mailer, metrics, clock) live
here. Tests replace them either by building a ``Container`` with fakes or through
``app.dependency_overrides`` on the getters in ``loan_api.dependencies``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from loan_api.config import Settings
from loan_api.database import create_engine
from loan_api.documents.client import HttpTaggerClient, TaggerClient
from loan_api.metrics import BusinessMetrics
from loan_api.notifications.emailer import Emailer, build_emailer

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    tagger: TaggerClient
    emailer: Emailer
    metrics: BusinessMetrics
    clock: Clock = field(default=utc_now)

    async def aclose(self) -> None:
        await self.tagger.aclose()
        await self.engine.dispose()


def build_container(settings: Settings, metrics: BusinessMetrics) -> Container:
    return Container(
        settings=settings,
        engine=create_engine(settings.database_dsn(), pool_size=settings.database_pool_size),
        tagger=HttpTaggerClient.from_settings(settings),
        emailer=build_emailer(settings),
        metrics=metrics,
    )

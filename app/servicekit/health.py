"""Liveness and readiness probes.

``/health/live`` answers as long as the process serves requests; ``/health/ready`` runs the
service's readiness check (the api pings its database) and answers 503 with a problem document
when it fails, so orchestrators stop sending traffic without restarting the process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from servicekit.openapi import problem_responses
from servicekit.problems import PROBLEM_TYPE_PREFIX, problem_response

ReadinessCheck = Callable[[Request], Awaitable[None]]

log = structlog.get_logger(__name__)


def health_router(readiness_check: ReadinessCheck | None = None) -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live", summary="Liveness probe")
    async def live() -> dict[str, str]:
        """Answers as long as the process serves requests."""
        return {"status": "ok"}

    # 503 is documented where it can be answered: with a readiness check.
    not_ready = problem_responses(503) if readiness_check is not None else None

    @router.get("/ready", summary="Readiness probe", response_model=None, responses=not_ready)
    async def ready(request: Request) -> dict[str, str] | JSONResponse:
        """Answers when the service can take traffic: its readiness check passes, if it has one
        (503 otherwise)."""
        if readiness_check is not None:
            try:
                await readiness_check(request)
            except Exception as exc:
                log.warning("health.not_ready", exception_type=type(exc).__name__)
                return problem_response(
                    503,
                    "A dependency of this service is not reachable.",
                    type_=f"{PROBLEM_TYPE_PREFIX}not-ready",
                    instance=request.url.path,
                )
        return {"status": "ok"}

    return router

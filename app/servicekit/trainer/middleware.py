"""Pure ASGI middleware that injects the HTTP scenarios: latency, 5xx answers, exceptions.

Added before ``observe()`` it is the innermost middleware: the metrics middleware and the server
span wrap it, so an injected delay lands in ``http_request_duration_seconds`` for the route, an
injected 5xx is counted with its status, and an injected exception travels the same road as a bug
(``http_request_exceptions_total``, an error log line with its traceback, a 500 problem document).
The route is the template the metrics use (``loan_desk_telemetry.route_of``), resolved once per
request. ``/admin``, ``/metrics`` and the health probes are never touched, so a trainer can always
switch a scenario off again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any, Final

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from loan_desk_telemetry import UNMATCHED, route_of
from servicekit.problems import PROBLEM_TYPE_PREFIX, problem_response
from servicekit.trainer.registry import ScenarioRegistry, annotate
from servicekit.trainer.scenarios import ErrorParams, LatencyParams, describe

PROTECTED_PREFIXES: Final = ("/admin", "/metrics", "/health/")


class TrainerScenarioError(RuntimeError):
    """The exception the ``exceptions`` scenario raises: its class name is the
    ``exception_type`` label, so the dashboards say plainly what is going on."""


def jittered_seconds(delay_ms: int, jitter_ms: int) -> float:
    extra = random.uniform(0, jitter_ms) if jitter_ms else 0.0  # noqa: S311 - not a secret
    return (delay_ms + extra) / 1000


class ScenarioMiddleware:
    def __init__(self, app: ASGIApp, *, scenarios: ScenarioRegistry, routes_owner: Any) -> None:
        self.app = app
        self.scenarios = scenarios
        self.routes_owner = routes_owner

    @property
    def routes(self) -> Sequence[Any]:
        return self.routes_owner.routes  # type: ignore[no-any-return]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Latency first (it delays whatever follows), then an error answer, then an exception
        storm; a request no scenario takes reaches the app."""
        if (
            scope["type"] != "http"
            or not self.scenarios.any_active()
            or scope["path"].startswith(PROTECTED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        route = route_of(scope, self.routes)
        if route == UNMATCHED:
            await self.app(scope, receive, send)
            return
        await self._latency(route)
        response = self._error_answer(route, scope["path"])
        if response is not None:
            await response(scope, receive, send)
            return
        self._exception_storm(route)
        await self.app(scope, receive, send)

    async def _latency(self, route: str) -> None:
        latency = self.scenarios.for_route("latency", route)
        if latency is None:
            return
        assert isinstance(latency.params, LatencyParams)
        seconds = jittered_seconds(latency.params.delay_ms, latency.params.jitter_ms)
        annotate(
            "latency",
            describe("latency", latency.params),
            route=route,
            delay_ms=round(seconds * 1000, 1),
        )
        await asyncio.sleep(seconds)

    def _error_answer(self, route: str, path: str) -> JSONResponse | None:
        errors = self.scenarios.for_route("errors", route)
        if errors is None or not errors.take():
            return None
        assert isinstance(errors.params, ErrorParams)
        status = errors.params.status
        annotate(
            "errors",
            describe("errors", errors.params),
            level="warning",
            route=route,
            status_code=status,
        )
        return problem_response(
            status,
            "The service failed to answer (trainer scenario 'errors').",
            type_=f"{PROBLEM_TYPE_PREFIX}scenario-errors",
            instance=path,
        )

    def _exception_storm(self, route: str) -> None:
        storm = self.scenarios.for_route("exceptions", route)
        if storm is not None and storm.take():
            annotate(
                "exceptions", describe("exceptions", storm.params), level="warning", route=route
            )
            raise TrainerScenarioError(f"exception storm (trainer scenario) on {route}")

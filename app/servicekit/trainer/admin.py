"""The admin endpoint of trainer mode: ``/admin/scenarios`` and ``/admin/traffic``.

=================================  =======================================================
``GET    /admin/scenarios``        active scenarios and the ones this service offers
``PUT    /admin/scenarios/{name}`` switch one on; the JSON body holds its parameters
``DELETE /admin/scenarios/{name}`` switch one off
``DELETE /admin/scenarios``        reset: every scenario off, traffic back to default
``GET    /admin/traffic``          the load generator's traffic profile (it polls this)
``PUT    /admin/traffic``          ``{"profile": "calm|busy|spike", "canary_share": 0.2}``
``DELETE /admin/traffic``          back to the load generator's own settings
=================================  =======================================================

Every route needs ``Authorization: Bearer <admin token>`` (401 without it or with a wrong one),
compared in constant time. The router is only included when trainer mode is on; the routes are
left out of the OpenAPI document.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from loan_desk_telemetry import UNMATCHED, match_route
from servicekit.problems import Problem
from servicekit.trainer.middleware import PROTECTED_PREFIXES
from servicekit.trainer.registry import ScenarioRegistry, UnknownScenarioError
from servicekit.trainer.scenarios import TrafficRequest

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="admin"'}


def token_dependency(token: str) -> Any:
    expected = token.encode()

    async def require_admin_token(request: Request) -> None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Problem(
                401, "The admin endpoint needs a Bearer token.", slug="unauthorized",
                headers=_CHALLENGE,
            )  # fmt: skip
        if not secrets.compare_digest(presented.strip().encode(), expected):
            raise Problem(
                401, "The admin token is not valid.", slug="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="admin", error="invalid_token"'},
            )  # fmt: skip

    return require_admin_token


def _route_templates(request: Request) -> list[str]:
    from fastapi.routing import iter_route_contexts

    templates = {
        str(path)
        for route in iter_route_contexts(request.app.routes)
        if (path := getattr(route, "path", None)) and not str(path).startswith(PROTECTED_PREFIXES)
    }
    return sorted(templates - {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def _check_route(request: Request, route: str | None) -> None:
    if route is None:
        return
    known = _route_templates(request)
    if route not in known:
        scope = {"type": "http", "path": route, "method": "GET", "root_path": ""}
        hint = match_route(request.app.routes, scope)
        raise Problem(
            422,
            f"No route template {route!r} in this service"
            + (f"; did you mean {hint!r}?" if hint and hint != UNMATCHED else "."),
            slug="unknown-route",
            routes=known,
        )


def admin_router(scenarios: ScenarioRegistry, token: str) -> APIRouter:
    """``/admin``: the scenario and traffic routes, all behind the admin token."""
    router = APIRouter(
        prefix="/admin",
        tags=["admin"],
        include_in_schema=False,
        dependencies=[Depends(token_dependency(token))],
    )
    router.include_router(_scenario_routes(scenarios))
    router.include_router(_traffic_routes(scenarios))
    return router


def _scenario_routes(scenarios: ScenarioRegistry) -> APIRouter:
    router = APIRouter(prefix="/scenarios")

    def unknown(name: str) -> Problem:
        return Problem(
            404,
            f"This service has no scenario {name!r}.",
            slug="unknown-scenario",
            available=list(scenarios.kinds),
        )

    @router.get("")
    async def list_scenarios() -> dict[str, Any]:
        return scenarios.snapshot()

    @router.put("/{name}")
    async def switch_on(
        request: Request,
        name: str,
        params: Annotated[dict[str, Any] | None, Body()] = None,
    ) -> dict[str, Any]:
        try:
            parsed = scenarios.parse(name, params)
        except UnknownScenarioError:
            raise unknown(name) from None
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            ) from None
        _check_route(request, getattr(parsed, "route", None))
        return scenarios.view(scenarios.switch_on(name, parsed))

    @router.delete("/{name}")
    async def switch_off(name: str) -> dict[str, Any]:
        try:
            was_active = scenarios.switch_off(name)
        except UnknownScenarioError:
            raise unknown(name) from None
        return {"name": name, "was_active": was_active}

    @router.delete("")
    async def reset() -> dict[str, Any]:
        return {"switched_off": scenarios.reset(), "traffic": scenarios.traffic()}

    return router


def _traffic_routes(scenarios: ScenarioRegistry) -> APIRouter:
    router = APIRouter(prefix="/traffic")

    @router.get("")
    async def get_traffic() -> dict[str, Any]:
        return scenarios.traffic()

    @router.put("")
    async def put_traffic(body: TrafficRequest) -> dict[str, Any]:
        return scenarios.set_traffic(body)

    @router.delete("")
    async def reset_traffic() -> dict[str, Any]:
        scenarios.clear_traffic()
        return scenarios.traffic()

    return router

"""``install_trainer``: trainer mode for a FastAPI app, the same way for every service."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from loan_desk_telemetry import resolve_service_name
from servicekit.trainer.admin import admin_router
from servicekit.trainer.middleware import ScenarioMiddleware
from servicekit.trainer.registry import ScenarioRegistry
from servicekit.trainer.settings import AdminSettings


def install_trainer(
    app: FastAPI,
    settings: AdminSettings,
    *,
    app_name: str,
    kinds: Iterable[str],
    registry: CollectorRegistry,
) -> ScenarioRegistry | None:
    """When ``ADMIN_ENABLED`` is true: the scenario middleware and the ``/admin`` routes, and
    the registry they share (also on ``app.state.scenarios``). Otherwise nothing at all: no
    middleware, no routes (``/admin/...`` is a 404 like any unknown path), and None.

    Call it before ``observe()``, so the metrics middleware and the server span wrap what the
    scenarios inject. Raises ``WeakAdminTokenError`` when trainer mode is on with a weak token.
    """
    token = settings.admin_token_value()
    if token is None:
        return None
    scenarios = ScenarioRegistry(
        app_name=resolve_service_name(app_name), kinds=kinds, registry=registry
    )
    app.add_middleware(ScenarioMiddleware, scenarios=scenarios, routes_owner=app)
    app.include_router(admin_router(scenarios, token))
    app.state.scenarios = scenarios
    return scenarios

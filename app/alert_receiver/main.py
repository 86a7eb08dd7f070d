"""The receiver's application factory: ``uvicorn --factory alert_receiver.main:create_app``.

``POST /v1/notifications`` takes Alertmanager's webhook payload (version 4, payload.py) and logs
each alert (notifications.py). Answers: 200 ``{"alerts": N}``; 400 for a body that is not JSON;
413 past ``ALERT_RECEIVER_MAX_BODY_BYTES``; 415 for another media type; 422 for JSON that is not
a version-4 notification. Alertmanager retries a 5xx and gives up on a 4xx (notify/webhook:
"5xx response codes are assumed to be recoverable"), so nothing here answers 5xx on bad input.
Every error is a problem document that quotes nothing from the body.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from alert_receiver import __version__
from alert_receiver.config import ReceiverSettings, get_settings
from alert_receiver.notifications import NotificationMetrics, record_notification
from alert_receiver.payload import PayloadProblem, parse_notification, request_schema
from loan_desk_telemetry import Telemetry
from servicekit.factory import create_service_app
from servicekit.health import health_router
from servicekit.openapi import problem_responses
from servicekit.problems import Problem
from servicekit.trainer.scenarios import HTTP_SCENARIOS

SERVICE_NAME = "alert-receiver"
NOTIFICATIONS_PATH = "/v1/notifications"
JSON = "application/json"


def _notifications_router(metrics: NotificationMetrics, tracer: Tracer) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notifications"])

    @router.post(
        "/notifications",
        summary="Alertmanager webhook (payload version 4)",
        openapi_extra={
            "requestBody": {"required": True, "content": {JSON: {"schema": request_schema()}}}
        },
        responses=problem_responses(
            415,
            422,
            descriptions={
                415: f"The body is not sent as {JSON}.",
                422: "JSON that is not a version-4 notification (`errors`).",
            },
        ),
    )
    async def receive(request: Request) -> dict[str, Any]:
        """Log each alert of the notification and count it; answers how many there were."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON:
            raise Problem(415, f"Send the notification as {JSON}.", slug="unsupported-media-type")
        body = await request.body()
        try:
            notification = parse_notification(body)
        except PayloadProblem as problem:
            if problem.errors:
                raise Problem(
                    problem.status, problem.detail, slug=problem.slug, errors=problem.errors
                ) from None
            raise Problem(problem.status, problem.detail, slug=problem.slug) from None
        return {"alerts": record_notification(notification, metrics, tracer)}

    return router


def create_app(
    settings: ReceiverSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """Build the receiver; tests pass a fresh registry and a telemetry handle of their own."""
    settings = settings or get_settings()
    # Trainer mode offers the HTTP scenarios: `errors` makes the receiver answer 5xx, which
    # Alertmanager retries and counts (docs/alerting.md, "When the receiver fails").
    app, parts = create_service_app(
        settings,
        service_name=SERVICE_NAME,
        code_version=__version__,
        title="Alert receiver",
        registry=registry,
        telemetry=telemetry,
        scenario_kinds=HTTP_SCENARIOS,
        max_body_bytes=settings.alert_receiver_max_body_bytes,
    )
    # The service's own tracer provider (a no-op one under OTEL_SDK_DISABLED=true).
    tracer = parts.telemetry.tracer_provider.get_tracer("alert_receiver")
    metrics = NotificationMetrics.for_registry(parts.registry)
    app.include_router(_notifications_router(metrics, tracer))
    app.include_router(health_router())
    return app

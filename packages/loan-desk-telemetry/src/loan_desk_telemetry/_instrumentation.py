"""``instrument_app``: tracing, HTTP metrics, the access line and ``/metrics`` for a FastAPI app."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.routing import Mount
from starlette.types import Scope

from loan_desk_telemetry._metrics import (
    HttpMetrics,
    PrometheusMiddleware,
    metrics_endpoint,
    serving_registry,
)
from loan_desk_telemetry._redaction import SENSITIVE_KEYS
from loan_desk_telemetry._resource import (
    instrumentation_disabled,
    resolve_service_name,
    sdk_disabled,
)
from loan_desk_telemetry._routes import UNMATCHED, route_of

__all__ = ["DEFAULT_EXCLUDED_PATHS", "instrument_app"]

DEFAULT_EXCLUDED_PATHS: Final = ("/metrics", "/health/live", "/health/ready")
_FLAG = "observability_instrumented"


def _excluded_urls(paths: Iterable[str]) -> str:
    # The contrib middleware matches these regexes against scheme://host/path (no query).
    return ",".join(rf"^[^:/]+://[^/]+{re.escape(p)}$" for p in paths)


def _sanitize_fields() -> list[str]:
    # Only used if someone turns header capture on (OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*):
    # sensitive headers are then recorded as "[REDACTED]". Header names use '-', keys '_'.
    env = os.environ.get("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "")
    fields = [f.strip() for f in env.split(",") if f.strip()]
    return fields + sorted(k.replace("_", "[-_]") for k in SENSITIVE_KEYS)


def _silence_native_telemetry(app: Any) -> None:
    """Turn off FastAPI's built-in OpenTelemetry (>= 0.142) on ``app`` and mounted FastAPI apps.

    FastAPI stands down by itself when it finds the contrib ``OpenTelemetryMiddleware`` in the
    app's middleware stack, which ``instrument_app`` installs; a *mounted* FastAPI app has no such
    middleware in its own stack and would open a second server span. The config dict is private
    FastAPI API, hence the guard: without it this does nothing.
    """
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict):
        config.update(tracing=False, metrics=False, logs=False, operation_spans=False)
    for route in getattr(app, "routes", ()):
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            _silence_native_telemetry(route.app)


def _server_request_hook(app: FastAPI) -> Any:
    def hook(span: Any, scope: Scope) -> None:
        # Same template as the metrics (contrib stops at a mount's prefix), resolved once per
        # request: the metrics middleware reads it back from the scope.
        if scope.get("type") != "http":
            return
        route = route_of(scope, app.routes)
        if route != UNMATCHED and span is not None and span.is_recording():
            span.set_attribute("http.route", route)
            method = (
                span.attributes.get("http.request.method") if hasattr(span, "attributes") else None
            )
            span.update_name(f"{method or scope.get('method', 'HTTP')} {route}")

    return hook


def instrument_app(
    app: FastAPI,
    *,
    service_name: str,
    service_version: str,
    registry: CollectorRegistry | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    excluded_paths: Sequence[str] = DEFAULT_EXCLUDED_PATHS,
    metrics_path: str | None = "/metrics",
    access_log: bool = True,
) -> None:
    """Add tracing, HTTP metrics, the access line and ``GET /metrics`` to ``app``. Idempotent.

    - Tracing: the contrib ``OpenTelemetryMiddleware`` (one SERVER span per request, named
      ``METHOD /route/{template}``; no per-message ``receive``/``send`` spans; ``excluded_paths``
      not traced; no headers captured unless ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`` asks,
      and then sensitive ones redacted). ``tracer_provider`` defaults to the global one. Skipped
      under ``OTEL_SDK_DISABLED=true`` or when ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names
      ``fastapi``.
    - Metrics: :class:`~loan_desk_telemetry._metrics.PrometheusMiddleware` on ``registry`` (default:
      ``prometheus_client.REGISTRY``, which also carries the process and platform collectors),
      wrapping the middleware added before this call (add yours first: one access line and one
      observation per answer, whoever gives it).
    - ``metrics_path`` (``None``: no route): serves the registry, OpenMetrics when asked; under
      ``PROMETHEUS_MULTIPROC_DIR`` the aggregate of all workers (no exemplars).
    """
    if getattr(app.state, _FLAG, False):
        return
    setattr(app.state, _FLAG, True)
    app_name = resolve_service_name(service_name)
    registry = registry if registry is not None else REGISTRY
    metrics = HttpMetrics.for_registry(registry)
    metrics.info.labels(app_name=app_name).info({"version": service_version})

    # Outermost of the middleware added so far: whatever those answer is counted and logged.
    # Middleware added after this call wraps it, and what it answers by itself is not (so add
    # yours first; servicekit.observe.prepare_service does). The tracing middleware wraps the
    # whole stack, so the server span is current while this runs.
    app.add_middleware(
        PrometheusMiddleware,
        metrics=metrics,
        app_name=app_name,
        routes_owner=app,
        excluded_paths=excluded_paths,
        access_log=access_log,
    )
    if metrics_path is not None:
        app.add_route(
            metrics_path,
            metrics_endpoint(serving_registry(registry, metrics)),
            methods=["GET"],
            include_in_schema=False,
        )

    _silence_native_telemetry(app)
    if sdk_disabled() or instrumentation_disabled("fastapi"):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        server_request_hook=_server_request_hook(app),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        excluded_urls=_excluded_urls(excluded_paths),
        http_capture_headers_sanitize_fields=_sanitize_fields(),
        exclude_spans=["receive", "send"],
    )

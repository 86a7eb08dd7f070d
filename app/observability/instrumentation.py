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

from observability.metrics import (
    HttpMetrics,
    PrometheusMiddleware,
    metrics_endpoint,
    serving_registry,
)
from observability.redaction import SENSITIVE_KEYS
from observability.resource import resolve_service_name, sdk_disabled
from observability.routes import UNMATCHED, route_of

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


def _native_config(app: Any) -> dict[str, Any] | None:
    """FastAPI's built-in telemetry config of ``app`` (FastAPI >= 0.142), or None.

    ``FastAPI(telemetry={...})`` is public; changing it on a built app goes through the private
    ``_telemetry`` dict, which the app's ``NativeTelemetry`` reads on every request. Guarded: an
    older (or a future, different) FastAPI makes this return None and the contrib middleware is
    used instead.
    """
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict) and hasattr(app, "_native_telemetry") and "tracing" in config:
        return config
    return None


def _silence_native_telemetry(app: Any, *, mounted_only: bool = False) -> None:
    """Turn off FastAPI's built-in OpenTelemetry on ``app`` and mounted FastAPI apps.

    A mounted FastAPI app would otherwise open a second server span when the outer app's span
    comes from the contrib middleware (with the native one it stands down by itself; switching
    it off is harmless then).
    """
    config = None if mounted_only else _native_config(app)
    if config is not None:
        config.update(tracing=False, metrics=False, logs=False, operation_spans=False)
    for route in getattr(app, "routes", ()):
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            _silence_native_telemetry(route.app)


def _excluder(paths: Iterable[str]) -> Any:
    excluded = frozenset(paths)

    def exclude(scope: Any) -> bool:
        return scope.get("path") in excluded

    return exclude


def _use_native_tracing(
    app: FastAPI, config: dict[str, Any], *, tracer_provider: Any, excluded_paths: Sequence[str]
) -> None:
    """One SERVER span per request from FastAPI's built-in telemetry, and nothing else from it.

    FastAPI opens the span around the whole app (middleware included), names it
    ``METHOD /route/{template}`` from the router's own match, sets the stable HTTP attributes
    (``http.request.method``, ``url.path``, ``url.scheme``, ``server.address``/``port``,
    ``network.protocol.version``, ``http.route``, ``http.response.status_code``, ``error.type``)
    and status ERROR for 5xx. Its operation spans, OTel metrics and OTLP exception logs are off:
    the metrics are ours (Prometheus), the exception is logged by our middleware inside the span
    and recorded on it as an event.
    """
    config.update(
        tracing=True,
        metrics=False,
        logs=False,
        operation_spans=False,
        auto_configure=False,
        exclude=_excluder(excluded_paths),
    )
    if tracer_provider is not None:
        config["tracer_provider"] = tracer_provider
    _silence_native_telemetry(app, mounted_only=True)


def _server_request_hook(app: FastAPI) -> Any:
    def hook(span: Any, scope: Scope) -> None:
        # Contrib fallback only. Same template as the metrics (contrib stops at a mount's
        # prefix), resolved once per request: the metrics middleware reads it back from the scope.
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

    - Tracing: FastAPI's built-in telemetry (FastAPI >= 0.142), configured for one SERVER span per
      request, named ``METHOD /route/{template}``, stable HTTP attributes, no operation spans, no
      OTel metrics or logs of its own (see :func:`_use_native_tracing`); on a FastAPI without it,
      the contrib ``OpenTelemetryMiddleware`` (no per-message ``receive``/``send`` spans; no
      headers captured unless ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`` asks, and then
      sensitive ones redacted). ``excluded_paths`` are not traced. ``tracer_provider`` defaults to
      the global one. Skipped under ``OTEL_SDK_DISABLED=true``.
    - Metrics: :class:`~observability.metrics.PrometheusMiddleware` on ``registry`` (default:
      ``prometheus_client.REGISTRY``, which also carries the process and platform collectors).
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

    native = None if sdk_disabled() else _native_config(app)
    # Added first = innermost of the user middleware; the tracing wraps the whole stack, so the
    # server span is current while this runs.
    app.add_middleware(
        PrometheusMiddleware,
        metrics=metrics,
        app_name=app_name,
        routes_owner=app,
        excluded_paths=excluded_paths,
        access_log=access_log,
        record_exceptions=native is not None,
    )
    if metrics_path is not None:
        app.add_route(
            metrics_path,
            metrics_endpoint(serving_registry(registry, metrics)),
            methods=["GET"],
            include_in_schema=False,
        )

    if sdk_disabled():
        _silence_native_telemetry(app)
        return
    if native is not None:
        _use_native_tracing(
            app, native, tracer_provider=tracer_provider, excluded_paths=excluded_paths
        )
        return
    _silence_native_telemetry(app)
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

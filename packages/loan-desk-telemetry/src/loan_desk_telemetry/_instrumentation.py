"""``instrument_app``: tracing, HTTP metrics, the access line and ``/metrics`` for a FastAPI app."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from fastapi import FastAPI
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.types import Scope

from loan_desk_telemetry._metrics import (
    DEFAULT_EXCLUDED_PATHS,
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
from loan_desk_telemetry._semconv import apply_semconv_opt_in

__all__ = ["DEFAULT_EXCLUDED_PATHS", "instrument_app", "uninstrument_app"]

#: The ``app.state`` attribute holding what :func:`instrument_app` installed (an
#: :class:`_Installed`); :func:`uninstrument_app` takes it away again.
_STATE: Final = "loan_desk_telemetry_instrumentation"
#: FastAPI's built-in telemetry switches (>= 0.142, the private ``app._telemetry`` dict).
_NATIVE_SWITCHES: Final = ("tracing", "metrics", "logs", "operation_spans")
#: The attribute the contrib FastAPI instrumentation sets on an app it instrumented
#: (pinned by tests/unit/package/test_upstream_pins.py).
_CONTRIB_FLAG: Final = "_is_instrumented_by_opentelemetry"

ServerRequestHook = Callable[[Span, Scope], None]
T = TypeVar("T")


@dataclass
class _Installed:
    """What :func:`instrument_app` changed on one app, for :func:`uninstrument_app`."""

    middleware: Middleware
    metrics_route: BaseRoute | None
    traced: bool = False
    #: (FastAPI ``_telemetry`` dict, its switches before they were turned off), per app.
    native_telemetry: list[tuple[dict[str, object], dict[str, object]]] = field(
        default_factory=list
    )


def _remove_identical(items: list[T], item: T) -> None:
    # By identity: two middleware entries or routes may compare equal.
    for index, candidate in enumerate(items):
        if candidate is item:
            del items[index]
            return


def _excluded_urls(paths: Iterable[str]) -> str:
    # The contrib middleware matches these regexes against scheme://host/path (no query).
    return ",".join(rf"^[^:/]+://[^/]+{re.escape(p)}$" for p in paths)


def _sanitize_fields() -> list[str]:
    # Only used if someone turns header capture on (OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*):
    # sensitive headers are then recorded as "[REDACTED]". Header names use '-', keys '_'.
    env = os.environ.get("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "")
    fields = [f.strip() for f in env.split(",") if f.strip()]
    return fields + sorted(k.replace("_", "[-_]") for k in SENSITIVE_KEYS)


def _silence_native_telemetry(
    app: FastAPI, saved: list[tuple[dict[str, object], dict[str, object]]]
) -> None:
    """Turn off FastAPI's built-in OpenTelemetry (>= 0.142) on ``app`` and mounted FastAPI apps,
    appending to ``saved`` what each switch was, so :func:`uninstrument_app` can put it back.

    FastAPI stands down by itself when it finds the contrib ``OpenTelemetryMiddleware`` in the
    app's middleware stack, which ``instrument_app`` installs; a *mounted* FastAPI app has no such
    middleware in its own stack and would open a second server span. The config dict is private
    FastAPI API, hence the guard: without it this does nothing.
    """
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict):
        saved.append((config, {key: config[key] for key in _NATIVE_SWITCHES if key in config}))
        config.update(dict.fromkeys(_NATIVE_SWITCHES, False))
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            _silence_native_telemetry(route.app, saved)


def _server_request_hook(app: FastAPI) -> ServerRequestHook:
    def hook(span: Span, scope: Scope) -> None:
        # Same template as the metrics (contrib stops at a mount's prefix), resolved once per
        # request: the metrics middleware reads it back from the scope.
        if scope.get("type") != "http":
            return
        route = route_of(scope, app.routes)
        if route != UNMATCHED and span is not None and span.is_recording():
            span.set_attribute("http.route", route)
            # The SDK span's attributes (the API Span has none): the method contrib recorded.
            attributes = getattr(span, "attributes", None) or {}
            method = attributes.get("http.request.method")
            span.update_name(f"{method or scope.get('method', 'HTTP')} {route}")

    return hook


def instrument_app(
    app: FastAPI,
    *,
    service_name: str,
    service_version: str,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    excluded_paths: Sequence[str] = DEFAULT_EXCLUDED_PATHS,
    metrics_path: str | None = "/metrics",
    access_log: bool = True,
) -> None:
    """Add tracing, HTTP metrics, the access line and ``GET /metrics`` to ``app``. Idempotent;
    :func:`uninstrument_app` undoes it.

    - Tracing: the contrib ``OpenTelemetryMiddleware`` (one SERVER span per request, named
      ``METHOD /route/{template}``; no per-message ``receive``/``send`` spans; ``excluded_paths``
      not traced; no headers captured unless ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`` asks,
      and then sensitive ones redacted). ``tracer_provider`` defaults to the global one. Skipped
      under ``OTEL_SDK_DISABLED=true``, when ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names
      ``fastapi``, or when the app is already traced by ``FastAPIInstrumentor`` (left as it is).
    - Metrics: :class:`~loan_desk_telemetry._metrics.PrometheusMiddleware` on ``registry`` (default:
      ``prometheus_client.REGISTRY``, which also carries the process and platform collectors),
      wrapping the middleware added before this call (add yours first: one access line and one
      observation per answer, whoever gives it).
    - ``metrics_path`` (``None``: no route): serves the registry, OpenMetrics when asked; under
      ``PROMETHEUS_MULTIPROC_DIR`` the aggregate of all workers (no exemplars).
    - Sets ``OTEL_SEMCONV_STABILITY_OPT_IN=http`` when unset (see the package docstring).

    Raises :class:`RuntimeError` when the app has already started (Starlette builds its
    middleware stack on the first request or lifespan event, and takes no middleware after).
    """
    if isinstance(getattr(app.state, _STATE, None), _Installed):
        return
    if app.middleware_stack is not None:
        raise RuntimeError(
            "instrument_app: the app has already started (its middleware stack is built); "
            "call instrument_app before it serves its first request or lifespan event"
        )
    apply_semconv_opt_in()
    app_name = resolve_service_name(service_name)
    registry = registry if registry is not None else REGISTRY
    metrics = HttpMetrics.for_registry(registry)
    metrics.info.labels(app_name=app_name).info({"version": service_version})

    # Outermost of the middleware added so far: whatever those answer is counted and logged.
    # Middleware added after this call wraps it, and what it answers by itself is not (so add
    # yours first; servicekit.observe.prepare_service does). The tracing middleware wraps the
    # whole stack, so the server span is current while this runs.
    # On ``registry`` it finds ``metrics`` (built above, so a clash fails here and now).
    app.add_middleware(
        PrometheusMiddleware,
        app_name=app_name,
        registry=registry,
        routes_owner=app,
        excluded_paths=excluded_paths,
        access_log=access_log,
    )
    installed = _Installed(middleware=app.user_middleware[0], metrics_route=None)
    setattr(app.state, _STATE, installed)
    if metrics_path is not None:
        app.add_route(
            metrics_path,
            metrics_endpoint(serving_registry(registry, metrics)),
            methods=["GET"],
            include_in_schema=False,
        )
        installed.metrics_route = app.router.routes[-1]

    _silence_native_telemetry(app, installed.native_telemetry)
    if sdk_disabled() or instrumentation_disabled("fastapi") or getattr(app, _CONTRIB_FLAG, False):
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
    installed.traced = True


def uninstrument_app(app: FastAPI) -> None:
    """Undo :func:`instrument_app` on ``app``, as ``FastAPIInstrumentor.uninstrument_app`` does
    for its own. Harmless on an app it did not instrument, or twice.

    Takes away the tracing (through ``FastAPIInstrumentor.uninstrument_app``, which also
    unpatches ``BackgroundTask``: background-task spans stop for every app until an app is
    instrumented again), the
    :class:`~loan_desk_telemetry._metrics.PrometheusMiddleware`, the ``/metrics`` route, and
    gives FastAPI's built-in telemetry switches their values back. A running app gets its
    middleware stack rebuilt; one that has not started can be instrumented again. What the
    metrics already recorded stays in the registry (``app_info`` included), as instruments stay
    with their meter.
    """
    installed = getattr(app.state, _STATE, None)
    if not isinstance(installed, _Installed):
        return
    started = app.middleware_stack is not None
    if installed.traced:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.uninstrument_app(app)
    _remove_identical(app.user_middleware, installed.middleware)
    if installed.metrics_route is not None:
        _remove_identical(app.router.routes, installed.metrics_route)
    for config, switches in installed.native_telemetry:
        config.update(switches)
    delattr(app.state, _STATE)
    # The contrib undo builds the stack; an app that had not started gets none, so that it can
    # still take middleware (and be instrumented again).
    app.middleware_stack = app.build_middleware_stack() if started else None

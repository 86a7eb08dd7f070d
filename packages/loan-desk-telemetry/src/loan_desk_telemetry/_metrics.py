"""HTTP metrics (prometheus-client) from a pure ASGI middleware, and the ``/metrics`` endpoint.

Metric names and labels follow docs/architecture.md:

- ``http_request_duration_seconds`` histogram {method, route, status_code, app_name}, with an
  exemplar {trace_id, span_id} of the server span when it is sampled (single-process mode only);
- ``http_requests_in_progress`` gauge {method, route, app_name} (``livesum`` across workers);
- ``http_request_exceptions_total`` counter {method, route, exception_type, app_name};
- ``app_info`` info {app_name, version}.

Label values are bounded: ``route`` is a template or ``"unmatched"``, ``method`` one of the known
HTTP methods or ``"other"``, ``status_code`` a number the app produced, ``exception_type`` an
exception class name raised by the app's own code.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, Final, Protocol

from opentelemetry import trace
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, DuplicateTimeseries
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loan_desk_telemetry._logger_cache import bound_logger
from loan_desk_telemetry._resource import resolve_service_name
from loan_desk_telemetry._routes import route_of

__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "HTTP_METHODS",
    "HttpMetrics",
    "PrometheusMiddleware",
    "RoutesOwner",
    "metrics_endpoint",
    "multiprocess_enabled",
    "serving_registry",
]

HTTP_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
OTHER_METHOD: Final = "other"
#: The paths neither traced nor counted nor logged unless told otherwise.
DEFAULT_EXCLUDED_PATHS: Final = ("/metrics", "/health/live", "/health/ready")

# Prometheus client defaults plus 30 s and 60 s: the tagger call has a long tail.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
)  # fmt: skip

ACCESS_LOGGER: Final = "loan_desk_telemetry.access"


class RoutesOwner(Protocol):
    """What holds the routes :class:`PrometheusMiddleware` matches requests against: the
    FastAPI/Starlette app (read on each request, so routes added later count)."""

    @property
    def routes(self) -> Sequence[BaseRoute]: ...


def multiprocess_enabled() -> bool:
    """True when ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus-client's multiprocess mode)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class HttpMetrics:
    """The four HTTP metrics, registered once per registry (shared by apps on that registry)."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _by_registry: weakref.WeakKeyDictionary[CollectorRegistry, HttpMetrics] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Duration of HTTP requests, from the first byte in to the last byte out.",
            ["method", "route", "status_code", "app_name"],
            registry=None,
            buckets=DURATION_BUCKETS,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served now.",
            ["method", "route", "app_name"],
            registry=None,
            multiprocess_mode="livesum",
        )
        self.exceptions = Counter(
            "http_request_exceptions",
            "HTTP requests that ended in an unhandled exception, by exception type.",
            ["method", "route", "exception_type", "app_name"],
            registry=None,
        )
        self.info = Info("app", "Version of the application.", ["app_name"], registry=None)
        # Info values live in process memory, not in the multiprocess files: in multiprocess
        # mode the info metric is registered on the serving registry instead (see
        # serving_registry), each worker serving the same value.
        collectors: list[Collector] = [self.duration, self.in_progress, self.exceptions]
        if not multiprocess_enabled():
            collectors.append(self.info)
        _register_all(registry, collectors)

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> HttpMetrics:
        # One lookup-and-register at a time: two apps on one registry whose middleware stacks are
        # built in two threads must share one set, not collide as "not ours".
        with cls._lock:
            metrics = cls._by_registry.get(registry)
            if metrics is None:
                metrics = cls(registry)
                cls._by_registry[registry] = metrics
            return metrics


def _register_all(registry: CollectorRegistry, collectors: Sequence[Collector]) -> None:
    """Register every collector, or none: a name already taken is a one-line ``ValueError``."""
    # DuplicateTimeseries(ValueError) and its ``duplicates`` set: prometheus-client 0.26.0,
    # prometheus_client/registry.py (read in the locked version; the search store holds an older
    # registry.py that raised a plain ValueError). The package requires >=0.26,<0.27.
    for index, collector in enumerate(collectors):
        try:
            registry.register(collector)
        except DuplicateTimeseries as exc:
            for registered in collectors[:index]:
                registry.unregister(registered)
            name = min(exc.duplicates, key=len)
            raise ValueError(
                f"the registry already holds a collector named {name} that is not "
                "loan_desk_telemetry's HTTP metrics (another instrumentation, or a metric of "
                "yours): give the HTTP metrics a registry without it"
            ) from exc


def serving_registry(registry: CollectorRegistry, metrics: HttpMetrics) -> CollectorRegistry:
    """The registry ``/metrics`` serves: ``registry`` itself, or in multiprocess mode a fresh
    one aggregating every worker's files (plus this process's info metric)."""
    if not multiprocess_enabled():
        return registry
    from prometheus_client import multiprocess

    served = CollectorRegistry()
    multiprocess.MultiProcessCollector(served)  # type: ignore[no-untyped-call]
    served.register(metrics.info)
    return served


def metrics_endpoint(registry: CollectorRegistry) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint serving ``registry``: OpenMetrics (with exemplars) when the Accept
    header asks for it, else the classic text format."""

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), headers={"Content-Type": content_type})

    return metrics


_LOGGED_MARK: Final = "__loan_desk_telemetry_logged__"


def mark_logged(exc: BaseException) -> None:
    """Mark ``exc`` as logged with its trace context (see :class:`DropRelogged`)."""
    with contextlib.suppress(AttributeError):  # exceptions with __slots__
        setattr(exc, _LOGGED_MARK, True)


def already_logged(exc: BaseException | None) -> bool:
    return bool(getattr(exc, _LOGGED_MARK, False))


def _exemplar() -> dict[str, str] | None:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
        return None
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class PrometheusMiddleware:
    """Pure ASGI middleware: one duration observation, in-progress gauge and access log line per
    HTTP request; excluded paths pass through untouched.

    ``instrument_app`` adds it; an app that wires the metrics by hand adds it itself::

        app.add_middleware(PrometheusMiddleware, app_name="loan-api", registry=registry)

    and serves ``registry`` where it likes. The metrics are registered on ``registry`` (default:
    ``prometheus_client.REGISTRY``, as prometheus-client's own metrics default) once: every
    middleware on that registry (``instrument_app``'s included) shares them, its requests told
    apart by ``app_name`` (``OTEL_SERVICE_NAME`` wins, as everywhere in the package). A registry
    that already holds another collector under one of these names is refused with a one-line
    ``ValueError`` (when the app builds its middleware stack: on its first request or lifespan
    event). ``app_version`` sets ``app_info``. ``routes_owner`` (default: the Starlette app the
    request reached, ``scope["app"]``) holds the routes the ``route`` label is matched against;
    an ASGI app without routes labels every request ``"unmatched"``.

    Runs inside the OpenTelemetry server span (``instrument_app`` puts the tracing middleware
    outside it), so the exemplar and the access line carry that span's ids.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        app_name: str,
        registry: CollectorRegistry | None = None,
        app_version: str | None = None,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        access_log: bool = True,
        routes_owner: RoutesOwner | None = None,
    ) -> None:
        self.app = app
        self.metrics = HttpMetrics.for_registry(registry if registry is not None else REGISTRY)
        self.app_name = resolve_service_name(app_name)
        if app_version is not None:
            self.metrics.info.labels(app_name=self.app_name).info({"version": app_version})
        self.routes_owner = routes_owner
        self.excluded_paths = frozenset(excluded_paths)
        self.access_log = access_log
        self.multiprocess = multiprocess_enabled()
        self.exemplars = not self.multiprocess  # prometheus-client has none in multiprocess mode

    def _routes(self, scope: Scope) -> Sequence[BaseRoute]:
        # Starlette.__call__ sets scope["app"] = self before it runs its middleware stack
        # (starlette 1.10.0, starlette/applications.py); scope["router"] is set later, by the
        # router inside that stack (starlette/routing.py, Router.app), so it is not there yet.
        owner = self.routes_owner if self.routes_owner is not None else scope.get("app")
        routes = getattr(owner, "routes", None)
        return routes if isinstance(routes, Sequence) else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.multiprocess:
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http" or scope["path"] in self.excluded_paths:
            await self.app(scope, receive, send)
            return

        raw_method = scope["method"]
        method = raw_method if raw_method in HTTP_METHODS else OTHER_METHOD
        route = route_of(scope, self._routes(scope))
        app_name = self.app_name
        in_progress = self.metrics.in_progress.labels(method, route, app_name)
        in_progress.inc()
        status_code = 500
        exception_type: str | None = None
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            exception_type = type(exc).__name__
            self.metrics.exceptions.labels(method, route, exception_type, app_name).inc()
            if self.access_log:
                # Logged here, inside the span, so the traceback carries the trace and span
                # ids, method and route: the one line for this fault. The mark tells the
                # server's own trace-less report of the same exception (dropped by a log
                # filter) and any handler further out (servicekit's 500 handler) that it is
                # logged already.
                bound_logger(ACCESS_LOGGER).error(
                    "unhandled exception", exc_info=exc, method=method, route=route
                )
                mark_logged(exc)
            raise
        finally:
            duration = time.perf_counter() - start
            in_progress.dec()
            self.metrics.duration.labels(method, route, str(status_code), app_name).observe(
                duration, exemplar=_exemplar() if self.exemplars else None
            )
            if self.access_log:
                self._log(
                    scope,
                    method=method,
                    route=route,
                    status_code=status_code,
                    duration=duration,
                    exception_type=exception_type,
                )

    @staticmethod
    def _log(
        scope: Scope,
        *,
        method: str,
        route: str,
        status_code: int,
        duration: float,
        exception_type: str | None,
    ) -> None:
        client = scope.get("client")
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            # The path can carry ids, which helps; the query string can carry tokens: left out.
            "path": scope["path"],
            "status_code": status_code,
            "duration_ms": round(duration * 1000, 3),
            "client": client[0] if client else None,
        }
        if exception_type is not None:
            fields["exception_type"] = exception_type
        bound_logger(ACCESS_LOGGER).info("request", **fields)

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                # Live gauges of a worker that stops must leave the totals.
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
            await send(message)

        return wrapped

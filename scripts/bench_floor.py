"""The ``sdk-floor`` variant of scripts/bench_telemetry.py: the shipped app with its spans made
the cheapest way the OpenTelemetry SDK allows.

Not a product: a measuring stick. The contrib FastAPI and SQLAlchemy instrumentations are
replaced by :class:`FloorServerSpan` and :func:`floor_statement_spans` (one SERVER span per
request, one CLIENT span per statement, three or four attributes each, no semantic-convention
helpers); everything else (SDK providers, batch export over OTLP, the access line and its OTLP
copy, metrics) is as shipped. What this variant costs is the floor of the SDK itself.

Imported by the benchmark's server processes only (the driver must not load the package).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event

import loan_api.main
from loan_desk_telemetry import DEFAULT_EXCLUDED_PATHS, route_of

_ERROR = Status(StatusCode.ERROR)
_PROPAGATED = (b"traceparent", b"tracestate")


def floor_app() -> FastAPI:
    # Patched before create_app() reads them; this process serves nothing else.
    setattr(loan_api.main, "instrument_sqlalchemy", floor_statement_spans)  # noqa: B010
    setattr(FastAPIInstrumentor, "instrument_app", staticmethod(lambda *_a, **_k: None))  # noqa: B010
    app = loan_api.main.create_app()
    app.add_middleware(FloorServerSpan, routes_owner=app)
    return app


def floor_statement_spans(engine: Any, *, tracer_provider: Any = None) -> None:
    sync_engine = getattr(engine, "sync_engine", engine)
    tracer = trace.get_tracer("bench.floor.sqlalchemy", tracer_provider=tracer_provider)
    system = sync_engine.dialect.name

    def before(_conn, _cursor, statement, params, exec_context, _many):  # type: ignore[no-untyped-def]
        operation = statement.split(None, 1)[0].upper() if statement else system
        exec_context._floor_span = tracer.start_span(
            operation,
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": system,
                "db.operation.name": operation,
                "db.query.text": statement,
            },
        )
        return statement, params

    def after(_conn, _cursor, _statement, _params, exec_context, _many):  # type: ignore[no-untyped-def]
        span = getattr(exec_context, "_floor_span", None)
        if span is not None:
            span.end()

    def error(exception_context):  # type: ignore[no-untyped-def]
        span = getattr(exception_context.execution_context, "_floor_span", None)
        if span is not None:
            span.set_status(_ERROR)
            span.end()

    event.listen(sync_engine, "before_cursor_execute", before, retval=True)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", error)


class FloorServerSpan:
    """One SERVER span per request, parent taken from ``traceparent``; pure ASGI."""

    def __init__(self, app: Any, *, routes_owner: Any) -> None:
        self.app = app
        self.routes_owner = routes_owner
        self.tracer = trace.get_tracer("bench.floor.asgi")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in DEFAULT_EXCLUDED_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in _PROPAGATED
        }
        parent = propagate.extract(carrier) if carrier else None
        route = route_of(scope, self.routes_owner.routes)
        span = self.tracer.start_span(
            f"{scope['method']} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "url.path": scope["path"],
                "http.route": route,
            },
        )
        token = context.attach(trace.set_span_in_context(span, parent))
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            span.record_exception(exc)
            raise
        finally:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(_ERROR)
            context.detach(token)
            span.end()

"""``uninstrument_app`` undoes ``instrument_app``; ``instrument_app`` refuses an app that has
started."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CollectorRegistry
from starlette.middleware.gzip import GZipMiddleware

import loan_desk_telemetry
from loan_desk_telemetry import PrometheusMiddleware
from loan_desk_telemetry.testing import Capture, capture_telemetry


@pytest.fixture
def capture() -> Capture:
    return capture_telemetry()


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def instrument(app: FastAPI, capture: Capture) -> None:
    loan_desk_telemetry.instrument_app(
        app,
        service_name="svc",
        service_version="1.0",
        registry=capture.registry,
        tracer_provider=capture.tracer_provider,
    )


def observed(registry: CollectorRegistry) -> float:
    labels = {"method": "GET", "route": "/items/{item_id}", "status_code": "200", "app_name": "svc"}
    return registry.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


def server_spans(capture: Capture) -> list[str]:
    return [s.name for s in capture.spans() if s.kind.name == "SERVER"]


def ours(app: FastAPI) -> int:
    return sum(1 for m in app.user_middleware if m.cls is PrometheusMiddleware)


def metrics_routes(app: FastAPI) -> int:
    return sum(1 for r in app.router.routes if getattr(r, "path", None) == "/metrics")


def test_instrumented_then_uninstrumented_while_running(capture: Capture) -> None:
    app = build_app()
    instrument(app, capture)
    with TestClient(app) as client:
        assert client.get("/items/1").status_code == 200
        assert server_spans(capture) == ["GET /items/{item_id}"]
        assert observed(capture.registry) == 1.0
        assert client.get("/metrics").status_code == 200

        loan_desk_telemetry.uninstrument_app(app)
        capture.clear()
        assert client.get("/items/2").status_code == 200
        assert client.get("/metrics").status_code == 404

    assert server_spans(capture) == []
    assert observed(capture.registry) == 1.0  # what was recorded stays, nothing new
    assert ours(app) == 0
    assert metrics_routes(app) == 0
    assert app.middleware_stack is not None  # rebuilt for the running app


def test_uninstrumented_before_start_then_instrumented_again(capture: Capture) -> None:
    app = build_app()
    app.add_middleware(GZipMiddleware)
    instrument(app, capture)
    loan_desk_telemetry.uninstrument_app(app)
    assert [m.cls for m in app.user_middleware] == [GZipMiddleware]
    assert metrics_routes(app) == 0
    assert app.middleware_stack is None  # still takes middleware

    instrument(app, capture)
    assert ours(app) == 1
    assert metrics_routes(app) == 1
    with TestClient(app) as client:
        assert client.get("/items/1").status_code == 200
        assert client.get("/metrics").status_code == 200
    # One server span per request (the excluded /metrics has none), one observation.
    assert server_spans(capture) == ["GET /items/{item_id}"]
    assert observed(capture.registry) == 1.0


def test_uninstrumented_app_behaves_like_one_never_instrumented(capture: Capture) -> None:
    app = build_app()
    instrument(app, capture)
    loan_desk_telemetry.uninstrument_app(app)
    fresh = build_app()
    assert [type(r) for r in app.router.routes] == [type(r) for r in fresh.router.routes]
    assert app.user_middleware == fresh.user_middleware == []
    with TestClient(app) as client:
        assert client.get("/items/1").json() == {"item_id": 1}
    assert server_spans(capture) == []
    assert observed(capture.registry) == 0.0
    assert not hasattr(app.state, "loan_desk_telemetry_instrumentation")


def test_uninstrument_twice_or_never_instrumented_is_harmless(capture: Capture) -> None:
    never = build_app()
    routes = list(never.router.routes)
    loan_desk_telemetry.uninstrument_app(never)
    assert never.router.routes == routes
    assert never.user_middleware == []
    assert never.middleware_stack is None

    app = build_app()
    instrument(app, capture)
    loan_desk_telemetry.uninstrument_app(app)
    loan_desk_telemetry.uninstrument_app(app)
    assert ours(app) == 0
    assert metrics_routes(app) == 0
    with TestClient(app) as client:
        assert client.get("/items/1").status_code == 200
    assert server_spans(capture) == []


def test_instrument_twice_adds_nothing_twice(capture: Capture) -> None:
    app = build_app()
    instrument(app, capture)
    instrument(app, capture)
    assert ours(app) == 1
    assert metrics_routes(app) == 1
    with TestClient(app) as client:
        client.get("/items/1")
    assert server_spans(capture) == ["GET /items/{item_id}"]
    assert observed(capture.registry) == 1.0


def test_instrument_app_refuses_an_app_that_has_started(capture: Capture) -> None:
    app = build_app()
    with TestClient(app) as client:
        client.get("/items/1")
    with pytest.raises(RuntimeError, match="already started") as raised:
        instrument(app, capture)
    assert "\n" not in str(raised.value)
    # Nothing half done: no middleware, no route, no state, no app_info series.
    assert ours(app) == 0
    assert metrics_routes(app) == 0
    assert not hasattr(app.state, "loan_desk_telemetry_instrumentation")
    assert (
        capture.registry.get_sample_value("app_info", {"app_name": "svc", "version": "1.0"}) is None
    )


def test_instrument_app_refuses_a_running_app_after_its_undo(capture: Capture) -> None:
    app = build_app()
    instrument(app, capture)
    with TestClient(app):
        loan_desk_telemetry.uninstrument_app(app)
        with pytest.raises(RuntimeError, match="already started"):
            instrument(app, capture)


def test_native_telemetry_switches_get_their_values_back(capture: Capture) -> None:
    app = build_app()
    sub = FastAPI()
    app.mount("/sub", sub)
    configs = [getattr(a, "_telemetry", None) for a in (app, sub)]
    if not all(isinstance(c, dict) for c in configs):
        pytest.skip("this FastAPI has no built-in telemetry")
    sub._telemetry["metrics"] = False  # type: ignore[attr-defined]  # a user's own choice
    before = [dict(c) for c in configs]  # type: ignore[call-overload]
    instrument(app, capture)
    for config in configs:
        assert config["tracing"] is False  # type: ignore[index]
    loan_desk_telemetry.uninstrument_app(app)
    assert [dict(c) for c in configs] == before  # type: ignore[call-overload]


def test_an_app_the_contrib_traced_first_keeps_its_tracing(capture: Capture) -> None:
    app = build_app()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=capture.tracer_provider)
    try:
        instrument(app, capture)
        loan_desk_telemetry.uninstrument_app(app)
        assert ours(app) == 0
        with TestClient(app) as client:
            client.get("/items/1")
        assert len(server_spans(capture)) == 1  # the contrib's own, not doubled, not removed
    finally:
        FastAPIInstrumentor.uninstrument_app(app)

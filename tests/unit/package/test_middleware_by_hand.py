"""``PrometheusMiddleware`` wired by hand (``app.add_middleware``) through the public API only:
the same metrics as ``instrument_app``, on the registry it is given."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

import loan_desk_telemetry
from loan_desk_telemetry import UNMATCHED, PrometheusMiddleware
from tests.support.tools import environment_without, run_python

OURS = (
    "http_request_duration_seconds",
    "http_requests_in_progress",
    "http_request_exceptions",
    "app",
)


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> None:
        raise LookupError("no such thing")

    return app


def by_hand(registry: CollectorRegistry, **options: object) -> FastAPI:
    app = build_app()
    app.add_middleware(
        PrometheusMiddleware, app_name="svc", app_version="1.0", registry=registry, **options
    )
    return app


def by_instrument_app(registry: CollectorRegistry) -> FastAPI:
    app = build_app()
    loan_desk_telemetry.instrument_app(
        app, service_name="svc", service_version="1.0", registry=registry, metrics_path=None
    )
    return app


def series(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(sample name, labels) of the package's metrics, without the values."""
    found = set()
    for family in registry.collect():
        if family.name in OURS:
            for sample in family.samples:
                found.add((sample.name, tuple(sorted(sample.labels.items()))))
    return found


def requests_counted(
    registry: CollectorRegistry, route: str, status: str, app: str = "svc"
) -> float:
    labels = {"method": "GET", "route": route, "status_code": status, "app_name": app}
    return registry.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


def get(app: FastAPI, paths: Iterable[str]) -> list[int]:
    with TestClient(app, raise_server_exceptions=False) as client:
        return [client.get(path).status_code for path in paths]


PATHS = ("/items/3", "/items/4", "/nope", "/boom", "/health/live")


def test_by_hand_gives_the_series_instrument_app_gives() -> None:
    hand, instrumented = CollectorRegistry(), CollectorRegistry()
    assert get(by_hand(hand), PATHS) == get(by_instrument_app(instrumented), PATHS)
    assert series(hand) == series(instrumented)
    assert requests_counted(hand, "/items/{item_id}", "200") == 2.0
    assert hand.get_sample_value("app_info", {"app_name": "svc", "version": "1.0"}) == 1.0
    exceptions = {"method": "GET", "route": "/boom", "exception_type": "LookupError"}
    assert (
        hand.get_sample_value("http_request_exceptions_total", exceptions | {"app_name": "svc"})
        == 1.0
    )


def test_unknown_paths_are_labelled_unmatched() -> None:
    registry = CollectorRegistry()
    assert get(by_hand(registry), [f"/unknown/{n}" for n in range(5)]) == [404] * 5
    assert requests_counted(registry, UNMATCHED, "404") == 5.0
    routes = {dict(labels)["route"] for name, labels in series(registry) if name.endswith("_count")}
    assert routes == {UNMATCHED}


def test_the_default_excluded_paths_are_instrument_apps() -> None:
    registry = CollectorRegistry()
    assert get(by_hand(registry), ["/health/live", "/items/1"]) == [200, 200]
    assert requests_counted(registry, "/health/live", "200") == 0.0
    assert requests_counted(registry, "/items/{item_id}", "200") == 1.0


def test_excluded_paths_of_its_own() -> None:
    registry = CollectorRegistry()
    app = by_hand(registry, excluded_paths=["/items/1"])
    assert get(app, ["/items/1", "/items/2", "/health/live"]) == [200, 200, 200]
    assert requests_counted(registry, "/items/{item_id}", "200") == 1.0
    assert requests_counted(registry, "/health/live", "200") == 1.0


def test_routes_added_after_the_start_are_matched() -> None:
    # The routes are read from scope["app"] on each request.
    registry = CollectorRegistry()
    app = by_hand(registry)
    with TestClient(app) as client:
        assert client.get("/late/1").status_code == 404

        @app.get("/late/{n}")
        async def late(n: int) -> int:
            return n

        assert client.get("/late/1").status_code == 200
    assert requests_counted(registry, UNMATCHED, "404") == 1.0
    assert requests_counted(registry, "/late/{n}", "200") == 1.0


def test_a_mounted_app_labels_its_own_routes() -> None:
    # The sub-application's Starlette.__call__ puts itself in scope["app"] before its middleware.
    registry = CollectorRegistry()
    outer = FastAPI()
    outer.mount("/v2", by_hand(registry))
    assert get(outer, ["/v2/items/9", "/v2/nope"]) == [200, 404]
    assert requests_counted(registry, "/items/{item_id}", "200") == 1.0
    assert requests_counted(registry, UNMATCHED, "404") == 1.0


def test_an_app_without_routes_is_labelled_unmatched() -> None:
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("hi")(scope, receive, send)

    registry = CollectorRegistry()
    app = PrometheusMiddleware(bare, app_name="bare", registry=registry)
    assert TestClient(app).get("/anything").text == "hi"  # no lifespan: bare has none
    assert requests_counted(registry, UNMATCHED, "200", app="bare") == 1.0


def test_routes_owner_given_by_hand() -> None:
    registry = CollectorRegistry()
    routed = build_app()

    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        await routed(scope, receive, send)

    app = PrometheusMiddleware(bare, app_name="svc", registry=registry, routes_owner=routed)
    with TestClient(app) as client:
        assert client.get("/items/5").status_code == 200
    assert requests_counted(registry, "/items/{item_id}", "200") == 1.0


def test_two_apps_on_one_registry_share_the_metrics() -> None:
    registry = CollectorRegistry()
    first = build_app()
    first.add_middleware(PrometheusMiddleware, app_name="first", registry=registry)
    second = by_instrument_app(registry)
    third = build_app()
    third.add_middleware(PrometheusMiddleware, app_name="third", registry=registry)
    for app in (first, second, third):
        assert get(app, ["/items/1"]) == [200]
    for name in ("first", "svc", "third"):
        assert requests_counted(registry, "/items/{item_id}", "200", app=name) == 1.0


def test_a_foreign_collector_of_the_same_name_is_a_one_line_error() -> None:
    registry = CollectorRegistry()
    foreign = Histogram("http_request_duration_seconds", "Someone else's.", registry=registry)
    with pytest.raises(ValueError, match="already holds") as raised, TestClient(by_hand(registry)):
        pass
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "the registry already holds a collector named http_request_duration_seconds that is not"
    )
    # Nothing of ours was left behind: the registry holds only what it held.
    names = {family.name for family in registry.collect()}
    assert names == {"http_request_duration_seconds"}
    assert registry.get_sample_value("http_request_duration_seconds_count") == 0.0
    foreign.observe(1.0)
    assert registry.get_sample_value("http_request_duration_seconds_count") == 1.0


def test_a_clash_on_a_later_metric_leaves_none_of_ours() -> None:
    registry = CollectorRegistry()
    Histogram("http_requests_in_progress", "Not a gauge.", registry=registry)
    with pytest.raises(ValueError, match="named http_requests_in_progress that is not"):
        loan_desk_telemetry.instrument_app(
            build_app(), service_name="svc", service_version="1", registry=registry
        )
    assert {family.name for family in registry.collect()} == {"http_requests_in_progress"}


def test_otel_service_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    registry = CollectorRegistry()
    assert get(by_hand(registry), ["/items/1"]) == [200]
    assert requests_counted(registry, "/items/{item_id}", "200", app="from-env") == 1.0
    assert requests_counted(registry, "/items/{item_id}", "200") == 0.0


def test_the_default_registry_is_prometheus_clients() -> None:
    # In a process of its own: the global REGISTRY of this one stays as it is.
    program = """
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from loan_desk_telemetry import PrometheusMiddleware
app = FastAPI()
app.add_api_route("/x", lambda: "x")
app.add_middleware(PrometheusMiddleware, app_name="svc")
with TestClient(app) as client:
    client.get("/x")
labels = {"method": "GET", "route": "/x", "status_code": "200", "app_name": "svc"}
print(REGISTRY.get_sample_value("http_request_duration_seconds_count", labels))
"""
    environment = environment_without("OTEL_", "PROMETHEUS_MULTIPROC_DIR")
    assert run_python(program, env=environment, timeout=60).splitlines()[-1] == "1.0"


def test_apps_built_in_threads_on_one_registry_share_one_set_of_metrics() -> None:
    import threading

    from loan_desk_telemetry._metrics import HttpMetrics

    registry = CollectorRegistry()
    start = threading.Barrier(8)
    got: list[object] = []
    errors: list[BaseException] = []

    def build() -> None:
        start.wait()
        try:
            got.append(HttpMetrics.for_registry(registry))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(got) == 8
    assert len({id(metrics) for metrics in got}) == 1

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from loan_desk_telemetry._resource import build_resource
from loan_desk_telemetry._routes import UNMATCHED, match_route, route_of


def app_with_routes() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/api/v1")

    @router.get("/applications/{application_id}")
    async def get_application(application_id: str) -> None: ...

    @router.post("/applications")
    async def create_application() -> None: ...

    app.include_router(router)
    sub = FastAPI()

    @sub.get("/things/{thing_id}")
    async def thing(thing_id: int) -> None: ...

    app.mount("/sub", sub)
    return app


def scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/applications/42", "/api/v1/applications/{application_id}"),
        ("POST", "/api/v1/applications", "/api/v1/applications"),
        ("DELETE", "/api/v1/applications", "/api/v1/applications"),  # 405: still the template
        ("GET", "/sub/things/3", "/sub/things/{thing_id}"),
        ("GET", "/sub/nothing", "/sub/{path}"),
        ("GET", "/api/v2/unknown", UNMATCHED),
        ("GET", "/api/v1/applications/42/extra", UNMATCHED),
    ],
)
def test_route_templates(method: str, path: str, expected: str) -> None:
    app = app_with_routes()
    assert route_of(scope(method, path), app.routes) == expected


def test_route_is_cached_in_scope() -> None:
    app = app_with_routes()
    s = scope("GET", "/api/v1/applications/1")
    route_of(s, app.routes)
    assert s["loan_desk_telemetry.route"] == "/api/v1/applications/{application_id}"
    assert match_route([], s) is None


def test_resource_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    attrs = build_resource(service_name="loan-api", service_version="1.0").attributes
    assert attrs["service.name"] == "loan-api"
    assert attrs["service.version"] == "1.0"
    assert attrs["deployment.environment.name"] == "development"
    assert len(attrs["service.instance.id"]) == 36
    again = build_resource(service_name="loan-api", service_version="1.0").attributes
    assert again["service.instance.id"] == attrs["service.instance.id"]


def test_resource_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "renamed")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=production,service.instance.id=pod-1,team=loans",
    )
    attrs = build_resource(service_name="loan-api", service_version="1.0").attributes
    assert attrs["service.name"] == "renamed"
    assert attrs["deployment.environment.name"] == "production"
    assert attrs["service.instance.id"] == "pod-1"
    assert attrs["team"] == "loans"

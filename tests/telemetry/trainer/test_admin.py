"""The admin endpoint: its own token, absent when trainer mode is off, and no way to switch a
scenario on from the public API."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from loan_api.config import Settings
from loan_api.main import create_app
from servicekit.trainer.middleware import ScenarioMiddleware
from servicekit.trainer.settings import WeakAdminTokenError
from tests.support.flows import application_body
from tests.support.trainer import ADMIN, TOKEN, TrainerApi, attributes_of, body_of, trainer_api

ADMIN_CALLS = [
    ("GET", "/admin/scenarios", None),
    ("PUT", "/admin/scenarios/errors", {"rate": 1.0}),
    ("DELETE", "/admin/scenarios/errors", None),
    ("DELETE", "/admin/scenarios", None),
    ("GET", "/admin/traffic", None),
    ("PUT", "/admin/traffic", {"profile": "spike"}),
    ("DELETE", "/admin/traffic", None),
]


async def still_healthy(api: TrainerApi) -> None:
    """No scenario is on: a public request is answered normally and nothing was injected."""
    assert (
        await api.client.post("/api/v1/applications", json=application_body())
    ).status_code == 201
    assert api.app.state.scenarios.active() == []
    assert api.app.state.scenarios.traffic()["profile"] is None


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_admin_calls_without_the_token_are_refused(
    api: TrainerApi, method: str, path: str, body: object
) -> None:
    response = await api.client.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    await still_healthy(api)


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer ",
        "Bearer",
    ],
)
async def test_wrong_tokens_are_refused(api: TrainerApi, authorization: str) -> None:
    response = await api.client.put(
        "/admin/scenarios/errors", json={"rate": 1.0}, headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    await still_healthy(api)


async def test_the_token_in_a_query_string_or_other_header_does_not_count(api: TrainerApi) -> None:
    for kwargs in (
        {"params": {"token": TOKEN}},
        {"headers": {"X-Admin-Token": TOKEN}},
        {"headers": {"Cookie": f"token={TOKEN}"}},
    ):
        response = await api.client.put("/admin/scenarios/errors", json={"rate": 1}, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 401
    await still_healthy(api)


async def test_the_right_token_works(api: TrainerApi) -> None:
    for method, path, body in ADMIN_CALLS:
        response = await api.client.request(method, path, json=body, headers=ADMIN)
        assert response.status_code == 200, (method, path, response.text)


async def test_no_public_route_switches_anything(api: TrainerApi) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    assert not [p for p in schema["paths"] if "admin" in p or "scenario" in p]
    # Headers, query strings and bodies that look like switches are ignored by public routes.
    response = await api.client.post(
        "/api/v1/applications?scenario=errors",
        json=application_body(),
        headers={"X-Scenario": "errors", "X-Trainer": "exceptions"},
    )
    assert response.status_code == 201
    for method in ("PUT", "POST"):
        response = await api.client.request(method, "/scenarios/errors", json={"rate": 1})
        assert response.status_code == 404
    await still_healthy(api)


async def test_admin_routes_do_not_exist_when_trainer_mode_is_off(database_url: str) -> None:
    async with trainer_api(database_url, admin_enabled=False) as api:
        for method, path, body in ADMIN_CALLS:
            response = await api.client.request(method, path, json=body, headers=ADMIN)
            assert response.status_code == 404, (method, path)
            assert response.json()["detail"] == "No resource exists at this address."
            unknown = await api.client.request(method, "/no-such-thing", json=body)
            assert unknown.status_code == 404
            assert response.json()["detail"] == unknown.json()["detail"]
        assert not any(m.cls is ScenarioMiddleware for m in api.app.user_middleware)
        assert not hasattr(api.app.state, "scenarios")
        assert api.value("trainer_scenario_active") == 0
        assert (await api.client.post("/api/v1/applications", json=application_body())).is_success


async def test_unknown_scenarios_and_bad_parameters_are_refused(api: TrainerApi) -> None:
    for name, body, status in (
        ("memory-leak", {}, 404),
        ("errors", {"rate": 1.5}, 422),
        ("errors", {"status": 404}, 422),
        ("latency", {"delay_ms": -1}, 422),
        ("latency", {"route": "/api/v1/applications/123"}, 422),
        ("latency", {"route": "/api/v1/nope"}, 422),
        ("tagger", {"mode": "on-fire"}, 422),
        ("latency", {"delay": 5}, 422),
    ):
        response = await api.client.put(f"/admin/scenarios/{name}", json=body, headers=ADMIN)
        assert response.status_code == status, (name, body, response.text)
    hint = await api.client.put(
        "/admin/scenarios/latency", json={"route": "/api/v1/applications/123"}, headers=ADMIN
    )
    assert "{application_id}" in hint.json()["detail"]
    await still_healthy(api)


async def test_the_token_never_reaches_logs_or_spans(api: TrainerApi) -> None:
    for method, path, body in ADMIN_CALLS:
        await api.client.request(method, path, json=body, headers=ADMIN)
        await api.client.request(method, path, json=body, headers={"Authorization": "Bearer x"})
    dumped = repr([(body_of(r), attributes_of(r)) for r in api.capture.log_records()]) + repr(
        [s.to_json() for s in api.capture.spans()]
    )
    assert "scenario.on" in dumped  # the switches are logged...
    assert TOKEN not in dumped  # ...the token is not
    assert TOKEN[:16] not in dumped


async def test_scenario_gauge_follows_the_switches(api: TrainerApi) -> None:
    def active(name: str) -> float:
        return api.value("trainer_scenario_active", scenario=name, app_name="loan-api")

    assert [active(n) for n in ("latency", "errors", "slow-db")] == [0, 0, 0]
    await api.switch_on("errors", rate=0.1)
    await api.switch_on("slow-db", delay_ms=1)
    assert [active(n) for n in ("latency", "errors", "slow-db")] == [0, 1, 1]
    await api.switch_off("errors")
    assert [active(n) for n in ("latency", "errors", "slow-db")] == [0, 0, 1]
    await api.client.delete("/admin/scenarios", headers=ADMIN)
    assert api.value("trainer_scenario_active") == 0


async def test_traffic_profile_round_trip(api: TrainerApi) -> None:
    assert (await api.client.get("/admin/traffic", headers=ADMIN)).json()["profile"] is None
    set_ = await api.client.put(
        "/admin/traffic", json={"profile": "busy", "canary_share": 0.25}, headers=ADMIN
    )
    assert set_.json()["flows_per_second"] == 3.0
    assert set_.json()["canary_share"] == 0.25
    bad = await api.client.put("/admin/traffic", json={"profile": "party"}, headers=ADMIN)
    assert bad.status_code == 422
    reset = await api.client.delete("/admin/scenarios", headers=ADMIN)
    assert reset.json()["traffic"]["profile"] is None
    assert reset.json()["traffic"]["canary_share"] is None


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "needs ADMIN_TOKEN_FILE or ADMIN_TOKEN"),
        ("short-but-random-Q7x", "shorter than 32"),
        ("changeme-changeme-changeme-changeme", "placeholder"),
        ("my-admin-token-for-the-demo-of-today", "placeholder"),
        ("ab" * 20, "too few distinct characters"),
    ],
)
def test_weak_or_missing_tokens_stop_the_app_from_starting(
    database_url: str, token: str | None, message: str
) -> None:
    settings = Settings(database_url=database_url, admin_enabled=True, admin_token=token)
    with pytest.raises(WeakAdminTokenError, match=message) as raised:
        create_app(settings, registry=CollectorRegistry())
    if token:
        assert token not in str(raised.value)


def test_the_token_file_is_read_and_checked(tmp_path: Path, database_url: str) -> None:
    good = tmp_path / "admin_token"
    good.write_text(TOKEN + "\n")
    settings = Settings(database_url=database_url, admin_enabled=True, admin_token_file=good)
    assert settings.admin_token_value() == TOKEN
    weak = tmp_path / "weak"
    weak.write_text("secret\n")
    with pytest.raises(WeakAdminTokenError, match="shorter than 32"):
        Settings(admin_enabled=True, admin_token_file=weak).admin_token_value()
    with pytest.raises(WeakAdminTokenError, match="cannot be read"):
        Settings(admin_enabled=True, admin_token_file=tmp_path / "nope").admin_token_value()
    # Off: nothing is read, nothing is refused.
    assert (
        Settings(admin_enabled=False, admin_token_file=tmp_path / "nope").admin_token_value()
        is None
    )

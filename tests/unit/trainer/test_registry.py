"""The scenario registry: exact shares, auto-off, validation, traffic profiles, the CLI's calls."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from loadgen.control import TrafficControl
from loadgen.settings import LoadSettings
from servicekit.trainer.cli import build_parser, request_for
from servicekit.trainer.registry import ScenarioRegistry, UnknownScenarioError
from servicekit.trainer.scenarios import TRAFFIC_PROFILES, ErrorParams, TrafficRequest
from servicekit.trainer.settings import token_problem

TOKEN = "k3Jq9vXz2LmP8rTn5WcY7bHd4FgS6aQe"  # passes token_problem, as loadgen requires


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(
    clock: Clock | None = None, registry: CollectorRegistry | None = None
) -> ScenarioRegistry:
    return ScenarioRegistry(
        app_name="loan-api",
        kinds=("latency", "errors", "exceptions", "slow-db", "tagger"),
        registry=registry,
        clock=clock or Clock(),
    )


@pytest.mark.parametrize(
    ("rate", "requests", "hits"),
    [(1.0, 7, 7), (0.5, 7, 3), (0.25, 8, 2), (0.1, 25, 2), (0.3, 10, 3), (0.99, 100, 99)],
)
def test_share_is_exact(rate: float, requests: int, hits: int) -> None:
    active = board().switch_on("errors", {"rate": rate})
    assert sum(active.take() for _ in range(requests)) == hits


def test_share_is_exact_across_threads() -> None:
    active = board().switch_on("errors", {"rate": 0.5})
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(250):
            hit = active.take()
            with lock:
                results.append(hit)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 1000
    assert sum(results) == 500


def test_scenarios_switch_off_by_themselves() -> None:
    clock = Clock()
    scenarios = board(clock, CollectorRegistry())
    scenarios.switch_on("latency", {"delay_ms": 100, "duration_seconds": 60})
    scenarios.switch_on("slow-db", {"delay_ms": 100})
    clock.now += 59.9
    assert [a.name for a in scenarios.active()] == ["latency", "slow-db"]
    assert scenarios.snapshot()["active"][0]["remaining_seconds"] == 0.1
    clock.now += 0.1
    assert [a.name for a in scenarios.active()] == ["slow-db"]
    assert scenarios.get("latency") is None


def test_route_filter() -> None:
    scenarios = board()
    scenarios.switch_on("latency", {"route": "/a/{id}"})
    scenarios.switch_on("errors", {})
    assert scenarios.for_route("latency", "/a/{id}") is not None
    assert scenarios.for_route("latency", "/b") is None
    assert scenarios.for_route("errors", "/b") is not None


def test_parameters_are_validated_per_scenario() -> None:
    scenarios = board()
    with pytest.raises(UnknownScenarioError):
        scenarios.switch_on("memory-leak", {})
    with pytest.raises(ValidationError):
        scenarios.switch_on("errors", {"rate": 0})
    with pytest.raises(ValidationError):
        scenarios.switch_on("latency", {"rate": 0.5})  # a parameter of another scenario
    with pytest.raises(TypeError):
        scenarios.switch_on("latency", ErrorParams())
    tagger_only = ScenarioRegistry(app_name="doc-tagger", kinds=("latency", "errors", "x"))
    assert tagger_only.kinds == ("latency", "errors")
    with pytest.raises(UnknownScenarioError):
        tagger_only.switch_on("slow-db", {})
    with pytest.raises(UnknownScenarioError):
        tagger_only.switch_off("tagger")


def test_switching_on_again_replaces_parameters_and_counters() -> None:
    scenarios = board()
    first = scenarios.switch_on("errors", {"rate": 1.0})
    assert first.take()
    second = scenarios.switch_on("errors", {"rate": 0.5, "status": 503})
    assert scenarios.get("errors") is second
    assert [second.take(), second.take()] == [False, True]
    assert scenarios.switch_off("errors") is True
    assert scenarios.switch_off("errors") is False


def test_traffic_profiles_and_expiry() -> None:
    clock = Clock()
    scenarios = board(clock)
    assert scenarios.traffic()["profile"] is None
    answer = scenarios.set_traffic(TrafficRequest(profile="spike", duration_seconds=30))
    assert answer["flows_per_second"] == TRAFFIC_PROFILES["spike"].flows_per_second
    assert answer["remaining_seconds"] == 30
    clock.now += 30
    assert scenarios.traffic()["profile"] is None
    scenarios.set_traffic(TrafficRequest(canary_share=0.5))
    assert scenarios.traffic() | {"profiles": []} == {
        "profile": None,
        "flows_per_second": None,
        "concurrency": None,
        "bad_request_share": None,
        "unreadable_share": None,
        "canary_share": 0.5,
        "remaining_seconds": None,
        "profiles": [],
    }
    assert TRAFFIC_PROFILES["calm"].flows_per_second < TRAFFIC_PROFILES["busy"].flows_per_second
    assert TRAFFIC_PROFILES["busy"].flows_per_second < TRAFFIC_PROFILES["spike"].flows_per_second


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        ("0123456789abcdef0123456789abcdef0123456789abcdef", True),
        ("Zq8-vN2_kL5pR7tW1yB4cD6fG9hJ3mX0", True),
        ("Zq8-vN2_kL5pR7tW1yB4cD6fG9hJ3mX", False),  # 31 characters
        ("CHANGEME0123456789abcdefghijklmnop", False),
        ("please-set-a-secret-here-0123456789", False),
        ("abcabcabcabcabcabcabcabcabcabcabc", False),
    ],
)
def test_token_rules(token: str, ok: bool) -> None:
    assert (token_problem(token) is None) is ok


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["list"], ("GET", "/admin/scenarios", None)),
        (
            ["on", "latency", "--route", "/a/{id}", "--delay-ms", "800", "--jitter-ms", "200"],
            ("PUT", "/admin/scenarios/latency",
             {"route": "/a/{id}", "delay_ms": 800, "jitter_ms": 200}),
        ),
        (
            ["on", "errors", "--rate", "0.3", "--status", "503", "--for", "120"],
            ("PUT", "/admin/scenarios/errors",
             {"rate": 0.3, "status": 503, "duration_seconds": 120}),
        ),
        (["on", "tagger", "--mode", "slow"], ("PUT", "/admin/scenarios/tagger", {"mode": "slow"})),
        (["off", "slow-db"], ("DELETE", "/admin/scenarios/slow-db", None)),
        (["reset"], ("DELETE", "/admin/scenarios", None)),
        (["traffic"], ("GET", "/admin/traffic", None)),
        (["traffic", "default"], ("DELETE", "/admin/traffic", None)),
        (["traffic", "spike", "--for", "60"],
         ("PUT", "/admin/traffic", {"profile": "spike", "duration_seconds": 60})),
        (["traffic", "--canary-share", "0.5"], ("PUT", "/admin/traffic", {"canary_share": 0.5})),
    ],
)  # fmt: skip
def test_cli_commands_are_one_http_call_each(argv: list[str], expected: tuple) -> None:
    args = build_parser("loan-api trainer", "http://127.0.0.1:8000").parse_args(argv)
    assert request_for(args) == expected


def test_loadgen_follows_the_traffic_endpoint() -> None:
    calls: list[str] = []
    answers = iter(
        [
            httpx.Response(200, json={"profile": "busy", "flows_per_second": 3.0, "concurrency": 16,
                                      "bad_request_share": 0.1, "unreadable_share": 0.05,
                                      "canary_share": 0.4}),
            httpx.Response(200, json={"profile": None, "canary_share": None}),
            httpx.Response(503, json={}),
            httpx.Response(404, json={}),
        ]
    )  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["authorization"])
        return next(answers)

    settings = LoadSettings(
        admin_token=TOKEN,
        flows_per_second=1.0,
        canary_url="http://canary:8000",
        canary_share=0.1,
    )
    control = TrafficControl(settings)

    async def scenario() -> list[tuple[str, float, float]]:
        seen = []
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), base_url="http://api"
        ) as client:
            for _ in range(5):
                traffic = await control.poll_once(client)
                seen.append((traffic.profile, traffic.flows_per_second, traffic.canary_share))
        return seen

    seen = asyncio.run(scenario())
    assert seen == [
        ("busy", 3.0, 0.4),
        ("default", 1.0, 0.1),
        ("default", 1.0, 0.1),  # 503: keep what it had
        ("default", 1.0, 0.1),  # 404: no admin endpoint, stop asking
        ("default", 1.0, 0.1),
    ]
    assert calls == [f"Bearer {TOKEN}"] * 4
    assert control.enabled is False


def test_loadgen_without_a_canary_sends_it_nothing() -> None:
    control = TrafficControl(LoadSettings(admin_token=TOKEN))
    assert control.apply({"profile": "calm", "canary_share": 0.9}).canary_share == 0.0
    assert TrafficControl(LoadSettings()).enabled is False

"""The load generator's run loop and flow against a fake api (``httpx.MockTransport``): every
flow makes the same calls in the same order, and the canary's share goes to the canary."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import httpx

from loadgen.runner import run
from loadgen.settings import LoadSettings

APP_ID = "6f1c1a43-6a52-4d0c-9c1b-2f6c1d1b0a01"
# One flow without bad requests: create, two PUTs, two uploads, a GET, the invite.
FLOW = [
    ("POST", "/api/v{1,2}/applications"),
    ("PUT", f"/api/v1/applications/{APP_ID}/personal-details"),
    ("PUT", f"/api/v1/applications/{APP_ID}/current-address"),
    ("POST", f"/api/v1/applications/{APP_ID}/documents"),
    ("POST", f"/api/v1/applications/{APP_ID}/documents"),
    ("GET", f"/api/v1/applications/{APP_ID}"),
    ("POST", f"/api/v1/applications/{APP_ID}/invite"),
]


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.kinds: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if path == "/api/v1/applications":
            return httpx.Response(201, json={"id": APP_ID, "token": "t"})
        if path == "/api/v2/applications":
            body = {"application": {"id": APP_ID}, "credentials": {"token": "t"}}
            return httpx.Response(201, json=body)
        if path.endswith("/documents"):
            kind = re.search(rb'name="kind"\r\n\r\n(\w+)', request.content)
            assert kind is not None
            self.kinds.append(kind.group(1).decode())
            return httpx.Response(201, json={})
        if path.endswith("/invite"):
            return httpx.Response(202, json={})
        assert request.headers["authorization"] == "Bearer t"
        if request.method == "PUT":
            json.loads(request.content)  # a JSON body
        return httpx.Response(200, json={})


def _settings(**changes: object) -> LoadSettings:
    values: dict[str, object] = {
        "api_url": "http://api",
        "flows_per_second": 50,
        "concurrency": 4,
        # 50 flows a second for 1 s: the tests need two flows, which a stall of the (nice 10,
        # loaded) test process right after the first could prevent within 0.3 s.
        "duration_seconds": 1.0,
        "bad_request_share": 0.0,
        "unreadable_share": 0.0,
        "seed": 7,
        **changes,
    }
    return LoadSettings(**values)  # type: ignore[arg-type]


def test_every_flow_makes_the_same_calls() -> None:
    api = FakeApi()
    totals = asyncio.run(run(_settings(), transport=httpx.MockTransport(api)))
    flows = totals["202"]  # one invite a flow
    assert flows >= 2
    calls = Counter(
        ("POST", "/api/v{1,2}/applications") if path.endswith("/applications") else (method, path)
        for method, path in api.calls
    )
    assert calls == Counter({call: flows * FLOW.count(call) for call in FLOW})
    assert totals == Counter({"201": 3 * flows, "200": 3 * flows, "202": flows})
    assert sorted(api.kinds) == ["fiscal"] * flows + ["id"] * flows


def test_the_canary_gets_its_share_and_the_api_the_rest() -> None:
    api, canary = FakeApi(), FakeApi()
    totals = asyncio.run(
        run(
            _settings(canary_url="http://canary", canary_share=1.0),
            transport=httpx.MockTransport(api),
            canary_transport=httpx.MockTransport(canary),
        )
    )
    assert api.calls == []
    assert totals["flows:canary"] == totals["202"] >= 2

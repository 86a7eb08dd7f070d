"""The scenarios trainer mode offers: each one's parameters (validated, one pydantic model a
scenario), its description for people and spans, and the load generator's traffic profiles.

What is switched on in a process, and for how long, is ``servicekit.trainer.registry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

ROUTE_PATTERN: Final = r"^/[^\s]*$"


class ScenarioParams(BaseModel):
    """Parameters every scenario takes: ``duration_seconds`` switches it off by itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    duration_seconds: float | None = Field(default=None, gt=0, le=24 * 3600)


class RouteParams(ScenarioParams):
    # A route template as the metrics show it (`/api/v1/applications/{application_id}`);
    # None: every route of the service (never /admin, /metrics or the health probes).
    route: str | None = Field(default=None, pattern=ROUTE_PATTERN, max_length=200)


class LatencyParams(RouteParams):
    delay_ms: int = Field(default=800, ge=0, le=60_000)
    # Uniformly random extra delay in [0, jitter_ms]: latency that varies, as real latency does.
    jitter_ms: int = Field(default=0, ge=0, le=60_000)


class ErrorParams(RouteParams):
    # Share of requests that fail; deterministic (every 1/rate-th request), so a rate of 0.25
    # fails exactly one request in four.
    rate: float = Field(default=0.5, gt=0, le=1)
    status: int = Field(default=500, ge=500, le=599)


class ExceptionParams(RouteParams):
    rate: float = Field(default=1.0, gt=0, le=1)


class SlowDbParams(ScenarioParams):
    delay_ms: int = Field(default=300, ge=0, le=30_000)
    jitter_ms: int = Field(default=0, ge=0, le=30_000)


class TaggerParams(ScenarioParams):
    mode: Literal["slow", "unreachable"] = "unreachable"
    delay_ms: int = Field(default=10_000, ge=0, le=120_000)


#: Scenario name -> its parameters. Each service accepts the names it can act on.
SCENARIO_PARAMS: Final[Mapping[str, type[ScenarioParams]]] = {
    "latency": LatencyParams,
    "errors": ErrorParams,
    "exceptions": ExceptionParams,
    "slow-db": SlowDbParams,
    "tagger": TaggerParams,
}
HTTP_SCENARIOS: Final = ("latency", "errors", "exceptions")


@dataclass(frozen=True)
class TrafficProfile:
    """What the load generator does: flows per second, in-flight flows, and the mix."""

    name: str
    flows_per_second: float
    concurrency: int
    bad_request_share: float
    unreadable_share: float


TRAFFIC_PROFILES: Final[Mapping[str, TrafficProfile]] = {
    "calm": TrafficProfile("calm", 0.3, 4, 0.05, 0.02),
    "busy": TrafficProfile("busy", 3.0, 16, 0.1, 0.05),
    "spike": TrafficProfile("spike", 12.0, 48, 0.15, 0.05),
}


class TrafficRequest(BaseModel):
    """Body of ``PUT /admin/traffic``: a profile name and/or the canary's share of flows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Literal["calm", "busy", "spike"] | None = None
    canary_share: float | None = Field(default=None, ge=0, le=1)
    duration_seconds: float | None = Field(default=None, gt=0, le=24 * 3600)


def describe(name: str, params: ScenarioParams) -> str:
    """A short human description, also the ``scenario.effect`` span attribute."""
    where = getattr(params, "route", None) or "every route"
    if isinstance(params, LatencyParams):
        jitter = f" + up to {params.jitter_ms} ms" if params.jitter_ms else ""
        return f"+{params.delay_ms} ms{jitter} on {where}"
    if isinstance(params, ErrorParams):
        return f"{params.rate:.0%} of requests answer {params.status} on {where}"
    if isinstance(params, ExceptionParams):
        return f"{params.rate:.0%} of requests raise on {where}"
    if isinstance(params, SlowDbParams):
        jitter = f" + up to {params.jitter_ms} ms" if params.jitter_ms else ""
        return f"every SQL statement +{params.delay_ms} ms{jitter}"
    if isinstance(params, TaggerParams):
        if params.mode == "slow":
            return f"tagger calls +{params.delay_ms} ms"
        return "tagger unreachable"
    return name

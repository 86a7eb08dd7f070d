"""The scenarios switched on in this process and the traffic profile set for the load generator
(what each scenario and profile is: ``servicekit.trainer.scenarios``).

Reads happen on every request, writes only when a trainer flips a switch: state is swapped under
a ``threading.Lock`` (safe from the event loop, from SQLAlchemy's greenlets and from threads)
and never awaited while held.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Gauge

from servicekit.trainer.scenarios import (
    SCENARIO_PARAMS,
    TRAFFIC_PROFILES,
    ScenarioParams,
    TrafficRequest,
    describe,
)

log = structlog.stdlib.get_logger("servicekit.trainer")


@dataclass
class ActiveScenario:
    name: str
    params: ScenarioParams
    started_at: float  # wall clock, for people
    expires_at: float | None  # monotonic
    _seen: int = field(default=0, repr=False)
    _hits: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def applies_to(self, route: str) -> bool:
        wanted = getattr(self.params, "route", None)
        return wanted is None or wanted == route

    def take(self) -> bool:
        """True for the requests that fall in the scenario's share (``rate``), exactly
        floor(n * rate) of the first n."""
        rate = float(getattr(self.params, "rate", 1.0))
        with self._lock:
            self._seen += 1
            due = math.floor(self._seen * rate + 1e-9)
            if due > self._hits:
                self._hits += 1
                return True
            return False

    def to_dict(self, now: float) -> dict[str, Any]:
        remaining = None if self.expires_at is None else max(0.0, self.expires_at - now)
        return {
            "name": self.name,
            "params": self.params.model_dump(exclude_none=True),
            "effect": describe(self.name, self.params),
            "started_at": self.started_at,
            "remaining_seconds": None if remaining is None else round(remaining, 1),
            "requests_seen": self._seen,
            "requests_hit": self._hits,
        }


class UnknownScenarioError(LookupError):
    pass


class _Gauges:
    """``trainer_scenario_active{scenario, app_name}``: 1 while a scenario is on (dashboards
    annotate it). One per registry, like the HTTP metrics."""

    _by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> Gauge:
        gauge = cls._by_registry.get(registry)
        if gauge is None:
            gauge = Gauge(
                "trainer_scenario_active",
                "1 while a trainer failure scenario is switched on in this process.",
                ["scenario", "app_name"],
                registry=registry,
                multiprocess_mode="livemax",
            )
            cls._by_registry[registry] = gauge
        return gauge


class ScenarioRegistry:
    """The scenarios switched on in one process, and the traffic profile it hands out."""

    def __init__(
        self,
        *,
        app_name: str,
        kinds: Iterable[str],
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_name = app_name
        self.kinds = tuple(k for k in SCENARIO_PARAMS if k in set(kinds))
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, ActiveScenario] = {}
        self._traffic: TrafficRequest | None = None
        self._traffic_expires: float | None = None
        self._gauge = _Gauges.for_registry(registry) if registry is not None else None
        for kind in self.kinds:
            self._set_gauge(kind, 0)

    # --- scenarios ------------------------------------------------------------------------

    def parse(self, name: str, params: Mapping[str, Any] | None) -> ScenarioParams:
        """Validated parameters (pydantic ``ValidationError`` when they are wrong)."""
        if name not in self.kinds:
            raise UnknownScenarioError(name)
        return SCENARIO_PARAMS[name].model_validate(dict(params or {}))

    def switch_on(
        self, name: str, params: Mapping[str, Any] | ScenarioParams | None = None
    ) -> ActiveScenario:
        """Switch ``name`` on (replacing its earlier parameters, counters start again)."""
        if isinstance(params, ScenarioParams):
            if name not in self.kinds:
                raise UnknownScenarioError(name)
            if type(params) is not SCENARIO_PARAMS[name]:
                raise TypeError(f"{name} takes {SCENARIO_PARAMS[name].__name__}")
            parsed = params
        else:
            parsed = self.parse(name, params)
        now = self._clock()
        expires = None if parsed.duration_seconds is None else now + parsed.duration_seconds
        active = ActiveScenario(name, parsed, started_at=time.time(), expires_at=expires)
        with self._lock:
            self._active[name] = active
        self._set_gauge(name, 1)
        log.warning("scenario.on", scenario=name, effect=describe(name, parsed))
        return active

    def switch_off(self, name: str) -> bool:
        if name not in self.kinds:
            raise UnknownScenarioError(name)
        with self._lock:
            was = self._active.pop(name, None)
        self._set_gauge(name, 0)
        if was is not None:
            log.warning("scenario.off", scenario=name)
        return was is not None

    def reset(self) -> list[str]:
        """Every scenario off and the traffic profile back to the load generator's own."""
        with self._lock:
            names = sorted(self._active)
            self._active.clear()
            self._traffic = None
            self._traffic_expires = None
        for kind in self.kinds:
            self._set_gauge(kind, 0)
        log.warning("scenario.reset", switched_off=names)
        return names

    def get(self, name: str) -> ActiveScenario | None:
        """The scenario if it is on (a scenario whose time ran out is switched off here)."""
        active = self._active.get(name)  # dict reads are atomic; the lock guards writes
        if active is None:
            return None
        if active.expires_at is not None and self._clock() >= active.expires_at:
            with self._lock:
                if self._active.get(name) is active:
                    del self._active[name]
            self._set_gauge(name, 0)
            log.warning("scenario.expired", scenario=name)
            return None
        return active

    def for_route(self, name: str, route: str) -> ActiveScenario | None:
        active = self.get(name)
        return active if active is not None and active.applies_to(route) else None

    def any_active(self) -> bool:
        return bool(self._active)

    def active(self) -> list[ActiveScenario]:
        return [a for a in (self.get(name) for name in self.kinds) if a is not None]

    def view(self, active: ActiveScenario) -> dict[str, Any]:
        return active.to_dict(self._clock())

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "app_name": self.app_name,
            "active": [a.to_dict(now) for a in self.active()],
            "available": {
                name: SCENARIO_PARAMS[name]().model_dump(exclude_none=True) for name in self.kinds
            },
        }

    def _set_gauge(self, name: str, value: int) -> None:
        if self._gauge is not None:
            self._gauge.labels(scenario=name, app_name=self.app_name).set(value)

    # --- traffic --------------------------------------------------------------------------

    def set_traffic(self, request: TrafficRequest) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            self._traffic = request
            self._traffic_expires = (
                None if request.duration_seconds is None else now + request.duration_seconds
            )
        log.warning("traffic.set", profile=request.profile, canary_share=request.canary_share)
        return self.traffic()

    def clear_traffic(self) -> None:
        with self._lock:
            self._traffic = None
            self._traffic_expires = None
        log.warning("traffic.reset")

    def traffic(self) -> dict[str, Any]:
        """What the load generator should do now; ``null`` fields mean "your own setting"."""
        with self._lock:
            if self._traffic_expires is not None and self._clock() >= self._traffic_expires:
                self._traffic = None
                self._traffic_expires = None
            request = self._traffic
            expires = self._traffic_expires
        profile = TRAFFIC_PROFILES[request.profile] if request and request.profile else None
        remaining = None if expires is None else round(max(0.0, expires - self._clock()), 1)
        return {
            "profile": profile.name if profile else None,
            "flows_per_second": profile.flows_per_second if profile else None,
            "concurrency": profile.concurrency if profile else None,
            "bad_request_share": profile.bad_request_share if profile else None,
            "unreadable_share": profile.unreadable_share if profile else None,
            "canary_share": request.canary_share if request else None,
            "remaining_seconds": remaining,
            "profiles": sorted(TRAFFIC_PROFILES),
        }


def annotate(
    name: str,
    effect: str,
    *,
    span: Any = None,
    level: Literal["debug", "info", "warning"] = "info",
    **details: str | int | float | bool,
) -> None:
    """Leave the scenario in the trace (``scenario.name``, ``scenario.effect`` and a
    ``scenario.injected`` event on ``span``, default the current span) and in the logs."""
    target = span if span is not None else trace.get_current_span()
    if target.is_recording():
        target.set_attribute("scenario.name", name)
        target.set_attribute("scenario.effect", effect)
        target.add_event(
            "scenario.injected", {"scenario.name": name, "scenario.effect": effect, **details}
        )
    getattr(log, level)("scenario.injected", scenario=name, effect=effect, **details)

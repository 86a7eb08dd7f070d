"""Traffic control: what the load generator does right now, and how a trainer changes it.

With an admin token set (``loadgen.settings``) the load generator polls the api's
``GET /admin/traffic`` every LOADGEN_CONTROL_INTERVAL_SECONDS and follows the profile a trainer
set there (calm, busy, spike; the canary's share); fields left null, and any time the api cannot
be asked, mean the settings. One control plane: the api's admin endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx
import structlog

from loadgen.settings import LoadSettings

log = structlog.get_logger("loadgen")


@dataclass(frozen=True)
class Traffic:
    """What the load generator does right now."""

    profile: str
    flows_per_second: float
    concurrency: int
    bad_request_share: float
    unreadable_share: float
    canary_share: float

    @classmethod
    def from_settings(cls, settings: LoadSettings) -> Traffic:
        return cls(
            profile="default",
            flows_per_second=settings.flows_per_second,
            concurrency=settings.concurrency,
            bad_request_share=settings.bad_request_share,
            unreadable_share=settings.unreadable_share,
            canary_share=settings.canary_share if settings.canary_url else 0.0,
        )


class TrafficControl:
    """Follows the traffic profile on the api's admin endpoint (see the module docstring)."""

    def __init__(self, settings: LoadSettings) -> None:
        self.default = Traffic.from_settings(settings)
        self.current = self.default
        self.token = settings.admin_token_value()
        self.has_canary = settings.canary_url is not None
        self.enabled = self.token is not None

    def apply(self, answer: dict[str, Any]) -> Traffic:
        """The traffic for an answer of ``GET /admin/traffic`` (null fields: the default)."""
        changes: dict[str, Any] = {"profile": answer.get("profile") or "default"}
        for name, kind in (
            ("flows_per_second", float),
            ("concurrency", int),
            ("bad_request_share", float),
            ("unreadable_share", float),
            ("canary_share", float),
        ):
            value = answer.get(name)
            if value is not None:
                changes[name] = kind(value)
        traffic = replace(self.default, **changes)
        if not self.has_canary:
            traffic = replace(traffic, canary_share=0.0)
        if traffic != self.current:
            log.info("loadgen.traffic", **vars(traffic))
        self.current = traffic
        return traffic

    async def poll_once(self, client: httpx.AsyncClient) -> Traffic:
        if not self.enabled:
            return self.current
        try:
            response = await client.get(
                "/admin/traffic", headers={"Authorization": f"Bearer {self.token}"}
            )
        except httpx.HTTPError as exc:
            log.warning("loadgen.control_unreachable", error=type(exc).__name__)
            return self.current
        if response.status_code == 404:
            log.warning("loadgen.control_off", reason="the api has no admin endpoint")
            self.enabled = False
            return self.current
        if response.status_code != 200:
            log.warning("loadgen.control_refused", status_code=response.status_code)
            return self.current
        return self.apply(response.json())

"""compose.yaml gives every app service the time its shutdown may take before SIGKILL."""

from __future__ import annotations

import re

from loan_desk_telemetry._telemetry import SHUTDOWN_TIMEOUT_SECONDS
from servicekit.serve import GRACEFUL_SHUTDOWN_SECONDS
from tests.config import stackfiles as sf

APP_SERVICES = ("api", "api-canary", "tagger", "loadgen")
_DURATION = re.compile(r"^(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def _seconds(value: str) -> int:
    match = _DURATION.match(value)
    assert value, value
    assert match is not None, value
    return int(match["m"] or 0) * 60 + int(match["s"] or 0)


def test_app_services_may_drain_requests_and_flush_telemetry_before_the_kill() -> None:
    services = sf.load_compose({})["services"]
    # Compose's default is 10 s: less than a drain plus a flush.
    needed = GRACEFUL_SHUTDOWN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS
    for name in APP_SERVICES:
        grace = services[name].get("stop_grace_period")
        assert grace is not None, f"{name}: no stop_grace_period"
        assert needed < _seconds(grace) <= 30, (name, grace, needed)

"""The telemetry tier's wire fixtures (`tests.support.wire`): an OTLP receiver, the api and the
tagger as real uvicorn processes exporting to it, and a real Prometheus scraping them.

One set per session (starting them takes a few seconds). Tests select their own data further by
the trace ids they send (`expectations.drive_flows`) and by counter deltas.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.prometheus import Prometheus, running_prometheus
from tests.support.wire import WireStack, running_wire_stack


@pytest.fixture(scope="session")
def wire_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireStack]:
    with running_wire_stack(tmp_path_factory.mktemp("wire")) as stack:
        yield stack


@pytest.fixture(scope="session")
def prometheus(wire_stack: WireStack) -> Iterator[Prometheus]:
    """Debian's Prometheus scraping the session's api and tagger (skips locally without the
    binary, fails under CI=true)."""
    with running_prometheus(wire_stack.tmp / "prom", wire_stack.scrape_targets()) as running:
        yield running

"""Test tiers follow the folder a test lives in; see pyproject.toml for the markers."""

from __future__ import annotations

from pathlib import Path

import pytest

_TIER_BY_FOLDER = {
    "unit": "unit",
    "integration": "integration",
    "config": "config",
    "telemetry": "telemetry",
    "alerting": "alerting",
    "live": "live",
    "contract": "contract",
    "typing": "typing",
}
_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.path)).relative_to(_TESTS)
        tier = _TIER_BY_FOLDER.get(relative.parts[0])
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))

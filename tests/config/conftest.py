"""Fixtures the config tests share: the component configs as files on disk, parsed once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.config import stackfiles as sf


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    return sf.load_yaml(sf.COLLECTOR_CONFIG)


@pytest.fixture(scope="module")
def loki() -> dict[str, Any]:
    return sf.load_yaml(sf.LOKI_CONFIG)


@pytest.fixture(scope="module")
def tempo() -> dict[str, Any]:
    return sf.load_yaml(sf.TEMPO_CONFIG)

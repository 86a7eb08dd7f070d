"""scripts/stack_alone_targets.py, the stack-alone check CI runs against a live Prometheus, holds
what it promises on the answers it reads (``/api/v1/targets``)."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from tests.config import stackfiles as sf


@pytest.fixture(scope="module")
def check() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "stack_alone_targets", sf.ROOT / "scripts" / "stack_alone_targets.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def target(job: str, health: str = "up", error: str = "") -> dict[str, Any]:
    return {
        "labels": {"job": job},
        "health": health,
        "lastError": error,
        "scrapeUrl": f"http://{job}:1/metrics",
    }


def test_all_up_and_no_app_job_passes(check: ModuleType) -> None:
    assert check.problems([target("loki"), target("grafana")]) == []


def test_an_app_target_or_a_down_one_fails(check: ModuleType) -> None:
    assert check.problems([target("api"), target("loki", "down", "connection refused")]) == [
        "api: a target without the app (http://api:1/metrics)",
        "loki: down (connection refused)",
    ]
    assert check.problems([]) == ["Prometheus has no targets at all"]


def test_the_app_jobs_are_those_the_app_mounts_targets_for(check: ModuleType) -> None:
    override = sf.load_yaml(sf.APP_OVERRIDE_FILE)["services"]["prometheus"]["volumes"]
    assert {v.split("/")[-1].split(".")[0] for v in override} == check.APP_JOBS

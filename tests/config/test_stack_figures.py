"""The figures docs/stack.md states hold for the files that run: one retention for Prometheus,
Loki and Tempo, and memory limits that follow the measured table and its rule, with the README
and the Quick start stating the same sums."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from tests.config import figures as fg
from tests.config import stackfiles as sf

README = sf.ROOT / "README.md"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return sf.load_compose({})


@pytest.fixture(scope="module")
def days() -> int:
    return fg.stated_retention_days(sf.STACK_DOC.read_text())


@pytest.fixture(scope="module")
def rows() -> list[fg.MemoryRow]:
    return fg.memory_table(sf.STACK_DOC.read_text())


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7d", timedelta(days=7)), ("1w", timedelta(days=7)), ("168h", timedelta(days=7)),
     ("1d12h", timedelta(hours=36)), ("0", timedelta(0))],
)  # fmt: skip
def test_prometheus_durations(text: str, expected: timedelta) -> None:
    assert fg.prometheus_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7 d", "12h1d", "1.5h", "7days"])
def test_prometheus_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        fg.prometheus_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("168h", timedelta(days=7)), ("1h30m", timedelta(minutes=90)), ("1.5h", timedelta(minutes=90)),
     ("336h0m0s", timedelta(days=14))],
)  # fmt: skip
def test_go_durations(text: str, expected: timedelta) -> None:
    assert fg.go_duration(text) == expected


@pytest.mark.parametrize("text", ["7d", "1w", "", "h", "72"])
def test_go_duration_rejects_what_tempo_rejects(text: str) -> None:
    # Tempo reads block_retention with time.ParseDuration: "7d" stops it from starting.
    with pytest.raises(ValueError, match="not a Go duration"):
        fg.go_duration(text)


# --- retention ------------------------------------------------------------------------------


def test_every_backend_keeps_the_stated_retention(
    days: int, compose: dict[str, Any], loki: dict[str, Any], tempo: dict[str, Any]
) -> None:
    assert days == 7
    assert fg.retention_problems(days, compose, loki, tempo) == []


def test_the_stack_doc_states_one_retention() -> None:
    with pytest.raises(ValueError, match="2 times"):
        fg.stated_retention_days("Every backend keeps **7 days**. Every backend keeps **3 days**.")
    with pytest.raises(ValueError, match="0 times"):
        fg.stated_retention_days("Prometheus keeps 7 days.")


def _set(node: Any, path: str, value: Any) -> None:
    """Set (or, with value None, remove) the dotted `path` in nested dicts."""
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(last)
    else:
        node[last] = value


def _prometheus_flag(compose: dict[str, Any], old: str, new: str | None) -> None:
    command = compose["services"]["prometheus"]["command"]
    if new is None:
        command.remove(old)
    elif old:
        command[command.index(old)] = new
    else:
        command.append(new)


RETENTION_FLAG = "--storage.tsdb.retention.time=7d"
SCHEDULER = "backend_scheduler.provider.compaction.compaction.block_retention"


@pytest.mark.parametrize(
    ("component", "path", "value", "expected"),
    [
        # The shipped bug: retention set only where the scheduler plans, never read.
        ("tempo", "backend_worker", None, "backend_worker.compaction.block_retention is not set"),
        # Go durations have no days: Tempo would refuse to start.
        ("tempo", "backend_worker.compaction.block_retention", "7d", "not a Go duration"),
        ("tempo", SCHEDULER, "72h", "backend_scheduler"),
        ("tempo", "overrides.defaults.compaction.block_retention", "24h", "overrides.defaults"),
        ("loki", "limits_config.retention_period", "720h", "retention_period is 720h"),
        ("loki", "compactor.retention_enabled", False, "retention_enabled"),
        ("loki", "compactor.delete_request_store", None, "delete_request_store"),
        ("prometheus", RETENTION_FLAG, "--storage.tsdb.retention.time=15d", "is 15d"),
        ("prometheus", RETENTION_FLAG, None, "0 --storage.tsdb.retention.time= flags"),
        ("prometheus", "", "--storage.tsdb.retention.size=1GB", "retention.size"),
    ],
)
def test_retention_check_flags_each_backend(
    days: int,
    compose: dict[str, Any],
    loki: dict[str, Any],
    tempo: dict[str, Any],
    component: str,
    path: str,
    value: Any,
    expected: str,
) -> None:
    c, lk, t = copy.deepcopy(compose), copy.deepcopy(loki), copy.deepcopy(tempo)
    if component == "prometheus":
        _prometheus_flag(c, path, value)
    else:
        _set(lk if component == "loki" else t, path, value)
    problems = fg.retention_problems(days, c, lk, t)
    assert len(problems) == 1, problems
    assert expected in problems[0], problems


# --- memory ---------------------------------------------------------------------------------


def test_memory_rule() -> None:
    assert [fg.memory_rule_mib(mb) for mb in (55, 71, 103, 149, 174)] == [192, 256, 256, 320, 384]
    assert fg.memory_rule_mib(64) == 192  # exactly on a step: not rounded further
    assert fg.memory_rule_mib(320) == 640
    # Stores: max(3 x RSS, RSS + 256 MiB).
    assert [fg.memory_rule_mib(mb, store=True) for mb in (71, 168, 170, 174)] == [
        384,
        512,
        512,
        576,
    ]


def test_byte_values() -> None:
    assert fg.compose_bytes("256m") == 256 * fg.MIB
    assert fg.compose_bytes("1g") == 1024 * fg.MIB
    assert fg.compose_bytes("512mb") == 512 * fg.MIB
    assert fg.compose_bytes(1024) == 1024
    assert fg.go_bytes("280MiB") == 280 * fg.MIB
    with pytest.raises(ValueError, match="not a compose byte value"):
        fg.compose_bytes("256MiB")
    with pytest.raises(ValueError, match="not a GOMEMLIMIT value"):
        fg.go_bytes("280m")  # the Go runtime rejects compose-style units


def test_the_measured_table_is_the_measured_figures(rows: list[fg.MemoryRow]) -> None:
    measured = {row.service: row.measured_mb for row in rows if row.measured_mb is not None}
    # Issue 11's run on real backends, and Debian's Alertmanager 0.25 with the receiver here.
    assert measured == {
        "api": 103, "api-canary": 106, "tagger": 73, "loadgen": 55, "postgres": 170,
        "otel-collector": 149, "prometheus": 71, "loki": 168, "tempo": 174,
        "alertmanager": 32, "alert-receiver": 74,
    }  # fmt: skip
    unmeasured = {row.service for row in rows if row.measured_mb is None}
    assert unmeasured == {"grafana", "migrate", "secrets", "init-volumes"}
    (grafana,) = [row for row in rows if row.service == "grafana"]
    assert "grafana.com/docs/grafana/v13.2/setup-grafana/installation" in grafana.source


def test_every_mem_limit_follows_the_table(
    rows: list[fg.MemoryRow], compose: dict[str, Any]
) -> None:
    assert fg.memory_problems(rows, compose) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("tempo.mem_limit", "1g", "tempo: mem_limit 1g"),
        ("extra-service", {"mem_limit": "64m"}, "extra-service: in compose.yaml but not"),
        ("loadgen", None, "loadgen: in the memory table but not"),
    ],
)
def test_memory_check_flags_drift(
    rows: list[fg.MemoryRow], compose: dict[str, Any], path: str, value: Any, expected: str
) -> None:
    broken = copy.deepcopy(compose)
    _set(broken["services"], path, value)
    problems = fg.memory_problems(rows, broken)
    assert len(problems) == 1, problems
    assert expected in problems[0], problems


def test_memory_check_flags_a_limit_off_the_rule() -> None:
    rows = [fg.MemoryRow("api", 103, "384m", "rule")]
    services = {"services": {"api": {"mem_limit": "384m"}}}
    assert fg.memory_problems(rows, services) == ["api: limit 384m for 103 MB; rule: 256m"]
    rows = [fg.MemoryRow("api", None, "384m", "rule")]
    assert fg.memory_problems(rows, services) == ["api: not measured, and no source for its limit"]


@pytest.mark.parametrize("path", [README, sf.STACK_DOC], ids=lambda p: p.name)
def test_docs_state_the_sums_of_the_limits_and_the_measured_use(
    path: Any, rows: list[fg.MemoryRow], compose: dict[str, Any]
) -> None:
    assert fg.sum_problems(path.name, path.read_text(), rows, compose) == []


@pytest.mark.parametrize("path", [README, sf.STACK_DOC], ids=lambda p: p.name)
def test_docs_state_the_limits_of_the_stack_alone(path: Any) -> None:
    stack = sf.load_compose({}, layer="stack")
    assert fg.stack_sum_problems(path.name, path.read_text(), stack) == []


def test_stack_sum_check_flags_a_stale_or_missing_figure() -> None:
    stack = sf.load_compose({}, layer="stack")
    limits = sum(fg.mem_limit(s) for s in stack["services"].values()) // fg.MIB
    text = f"Without the app, the stack's limits total {limits + 64:,} MiB."
    assert fg.stack_sum_problems("doc", text, stack) == [
        f"doc: without the app the limits add up to {limits} MiB, not {limits + 64}"
    ]
    assert fg.stack_sum_problems("doc", "no figure", stack) == [
        "doc: states no sum of the stack's limits without the app"
    ]


def test_sum_check_flags_a_stale_figure(rows: list[fg.MemoryRow], compose: dict[str, Any]) -> None:
    limits = sum(fg.mem_limit(s) for s in compose["services"].values()) // fg.MIB
    measured = sum(row.measured_mb or 0 for row in rows)
    stale = limits + 64
    text = f"The limits add up to {stale:,} MiB; measured use is about {measured:,} MB."
    assert fg.sum_problems("README", text, rows, compose) == [
        f"README: limits add up to {limits} MiB, not {stale}"
    ]
    assert len(fg.sum_problems("README", "about 4 GB of memory", rows, compose)) == 2


def test_go_memory_limits_sit_below_the_container_limits(
    compose: dict[str, Any], collector: dict[str, Any]
) -> None:
    assert fg.gomemlimit_problems(compose, collector) == []
    with_gomemlimit = {
        name
        for name, s in compose["services"].items()
        if "GOMEMLIMIT" in (s.get("environment") or {})
    }
    assert with_gomemlimit == {
        "otel-collector",
        "prometheus",
        "alertmanager",
        "loki",
        "tempo",
        "grafana",
    }


@pytest.mark.parametrize(
    ("component", "path", "value", "expected"),
    [
        # The old Tempo setting: GOMEMLIMIT above the container's limit once that shrinks.
        ("compose", "tempo.environment.GOMEMLIMIT", "800MiB", "tempo: GOMEMLIMIT 800MiB"),
        ("collector", "memory_limiter.limit_mib", 300, "limit_mib (300) < GOMEMLIMIT"),
        ("collector", "memory_limiter.spike_limit_mib", 256, "spike_limit_mib 256"),
    ],
)
def test_go_memory_check_flags_inconsistent_limits(
    compose: dict[str, Any],
    collector: dict[str, Any],
    component: str,
    path: str,
    value: Any,
    expected: str,
) -> None:
    c, o = copy.deepcopy(compose), copy.deepcopy(collector)
    _set(c["services"] if component == "compose" else o["processors"], path, value)
    problems = fg.gomemlimit_problems(c, o)
    assert len(problems) == 1, problems
    assert expected in problems[0], problems


# --- versions -------------------------------------------------------------------------------


def test_the_versions_table_is_what_is_pinned() -> None:
    table = fg.versions_table(sf.STACK_DOC.read_text())
    pins = fg.pinned_images(sf.load_env(), (sf.ROOT / "Dockerfile").read_text())
    assert table == pins
    assert pins["python"] == "3.13.15-slim-trixie"
    assert len(pins) == 9


def test_the_versions_check_sees_a_stale_row() -> None:
    doc = "x\n## Versions\n\n| component | image | tag |\n|---|---|---|\n"
    doc += "| PostgreSQL | `postgres` | `17.9` |\n"
    assert fg.versions_table(doc) == {"postgres": "17.9"}
    pins = fg.pinned_images({"POSTGRES_IMAGE": "postgres", "POSTGRES_TAG": "17.10-alpine"}, "")
    assert pins == {"postgres": "17.10-alpine"}
    assert fg.versions_table(doc) != pins

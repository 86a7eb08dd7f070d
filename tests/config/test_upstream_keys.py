"""Keys the stack writes for a component, held to lists taken from that component's source at the
pinned version (tests/config/data/, each file names its source), and keys upstream removed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.config import stackfiles as sf


def redaction_keys() -> tuple[set[str], set[str]]:
    """(Config keys, allowed `summary` values) from data/redactionprocessor-keys.txt."""
    lines = (sf.DATA / "redactionprocessor-keys.txt").read_text().splitlines()
    entries = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    values = {entry.split("=", 1)[1] for entry in entries if entry.startswith("summary=")}
    return {entry for entry in entries if "=" not in entry}, values


def redaction_problems(collector: dict[str, Any]) -> list[str]:
    keys, summaries = redaction_keys()
    problems = []
    for component_id, config in (collector.get("processors") or {}).items():
        if sf.component_type(component_id) != "redaction":
            continue
        for key in config or {}:
            if key not in keys:
                problems.append(f"{component_id}: {key!r} is not a key of the redaction processor")
        summary = (config or {}).get("summary")
        if summary is not None and summary not in summaries:
            problems.append(
                f"{component_id}: summary {summary!r} is not one of {sorted(summaries)}"
            )
    return problems


def test_the_key_list_is_the_config_structs() -> None:
    keys, summaries = redaction_keys()
    assert len(keys) == 11
    assert {"allow_all_keys", "blocked_key_patterns", "blocked_values", "summary"} <= keys
    assert summaries == {"debug", "info", "silent"}


def test_redaction_keys_exist_in_the_pinned_processor(collector: dict[str, Any]) -> None:
    assert "redaction" in collector["processors"]
    assert redaction_problems(collector) == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        # The attributes processor's key, not the redaction processor's.
        ("actions", [], "'actions' is not a key"),
        # Singular, as in some blog posts; config.go has blocked_values.
        ("blocked_value", ["x"], "'blocked_value' is not a key"),
        ("summary", "verbose", "summary 'verbose'"),
    ],
)
def test_redaction_check_flags_unknown_keys_and_values(
    collector: dict[str, Any], key: str, value: Any, expected: str
) -> None:
    broken = copy.deepcopy(collector)
    broken["processors"]["redaction/extra"] = {**broken["processors"]["redaction"], key: value}
    problems = redaction_problems(broken)
    assert len(problems) == 1, problems
    assert expected in problems[0], problems


def test_tempo_datasource_has_no_loki_search() -> None:
    # Grafana 11 removed the Tempo datasource's Loki search tab (grafana/grafana PR #84346), so
    # jsonData.lokiSearch is read by nothing in the pinned Grafana 13.
    (tempo,) = [ds for ds in sf.provisioned_datasources() if ds["type"] == "tempo"]
    assert "lokiSearch" not in tempo["jsonData"]

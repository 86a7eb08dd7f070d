"""The Grafana dashboards: classic JSON, portable datasources, defined variables, parseable
PromQL, no raw paths, a layout that fits the grid, and the committed JSON equal to what
scripts/build_dashboards.py (the `dashboards` package in scripts/) builds."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from dashboards import cli as builder
from dashboards.layout import Cell, line
from dashboards.panels import stat
from tests.support import dashboards as d
from tests.support import prom_rules
from tests.support.tools import require_executable

FILES = d.dashboard_files()
BOARDS = {path.name: d.load(path) for path in FILES}
IDS = list(BOARDS)


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_executable("promtool")


def test_the_five_dashboards_are_there() -> None:
    titles = {board["title"] for board in BOARDS.values()}
    assert titles == {
        "Service overview",
        "Logs",
        "Traces",
        "Business",
        "Telemetry pipeline health",
    }


def test_committed_json_matches_the_generator() -> None:
    built = builder.build_all()
    assert sorted(built) == sorted(BOARDS), "a dashboard file is missing or extra"
    for name, text in built.items():
        committed = (d.DASHBOARDS / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"{name} is stale: run `uv run python scripts/build_dashboards.py`"
        )


def test_uids_are_unique_and_stable() -> None:
    uids = [board["uid"] for board in BOARDS.values()]
    assert len(uids) == len(set(uids))
    assert all(uid.startswith("loan-desk-") for uid in uids)


@pytest.mark.parametrize("name", IDS)
def test_classic_json(name: str) -> None:
    assert d.classic_json_problems(BOARDS[name]) == []


@pytest.mark.parametrize("name", IDS)
def test_layout_fits_the_grid(name: str) -> None:
    assert d.layout_problems(BOARDS[name]) == []


def _placed(panel_id: int, x: int, y: int, w: int, h: int, kind: str = "timeseries") -> dict:
    pos = {"x": x, "y": y, "w": w, "h": h}
    return {"id": panel_id, "title": f"p{panel_id}", "type": kind, "gridPos": pos}


def test_layout_check_catches_overlaps_overflow_and_gaps() -> None:
    board = {
        "panels": [
            _placed(1, 0, 0, 24, 1, "row"),
            _placed(2, 0, 1, 12, 8),
            _placed(3, 6, 1, 12, 8),
            _placed(4, 16, 9, 10, 8),
            _placed(5, 0, 17, 12, 1, "row"),
        ]
    }
    assert d.layout_problems(board) == [
        "panel 3 'p3' overlaps panel 2 'p2'",
        "panel 4 'p4': gridPos {'x': 16, 'y': 9, 'w': 10, 'h': 8} outside the 24 columns",
        "panel 5 'p5': a row spans the width, one unit high",
        "the line at y=9 fills 10 of 24 columns",
    ]


@pytest.mark.parametrize(("width", "height"), [(0, 8), (25, 8), (12, 0)])
def test_generator_rejects_a_cell_off_the_grid(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="1 to 24 columns wide, 1 or more high"):
        Cell(stat("t", "d", []), width=width, height=height)


def test_generator_line_shares_the_columns_or_refuses() -> None:
    panels = [stat(f"p{i}", "d", []) for i in range(5)]
    assert [(c.width, c.height) for c in line(*panels[:3], height=8)] == [(8, 8)] * 3
    with pytest.raises(ValueError, match="5 panels do not share 24 columns equally"):
        line(*panels, height=8)


@pytest.mark.parametrize("name", IDS)
def test_time_range_refresh_and_descriptions(name: str) -> None:
    board = BOARDS[name]
    assert board["time"]["from"] in {"now-15m", "now-30m", "now-1h"}
    assert board["refresh"] in {"10s", "30s", "1m"}
    assert d.description_problems(board) == []


@pytest.mark.parametrize("name", IDS)
def test_datasources_are_variables_or_provisioned(name: str) -> None:
    assert d.datasource_problems(BOARDS[name], d.provisioned_datasources()) == []


@pytest.mark.parametrize("name", IDS)
def test_panels_reach_datasources_through_variables(name: str) -> None:
    # Portability: a team that imports the dashboard picks its own datasources.
    for panel in d.iter_panels(BOARDS[name]):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"].startswith("${"), panel["title"]


@pytest.mark.parametrize("name", IDS)
def test_every_variable_used_is_defined(name: str) -> None:
    assert d.undefined_variable_problems(BOARDS[name]) == []


@pytest.mark.parametrize("name", IDS)
def test_no_raw_path_label(name: str) -> None:
    assert d.raw_path_problems(BOARDS[name]) == []


@pytest.mark.parametrize("name", IDS)
def test_no_hard_wired_instance(name: str) -> None:
    for _, target in d.iter_targets(BOARDS[name]):
        expr = target.get("expr", "")
        assert "instance=" not in expr.replace(" ", ""), expr


def test_every_promql_query_parses(promtool: str) -> None:
    queries = [
        (f"{name}: {title}", expr)
        for name, board in BOARDS.items()
        for title, expr in d.promql_queries(board)
    ]
    assert len(queries) > 40
    assert d.promtool_parse_problems(promtool, queries) == []


def test_recording_rules_read_by_dashboards_exist() -> None:
    recorded = prom_rules.recorded_names([prom_rules.load_yaml(p) for p in prom_rules.rule_files()])
    used = {
        name
        for board in BOARDS.values()
        for _, expr in d.promql_queries(board)
        for name in d.recording_rule_names_used(expr)
    }
    assert used, "the dashboards should read some recording rules"
    assert used <= recorded, f"not recorded: {sorted(used - recorded)}"


def test_every_query_has_a_known_data_source() -> None:
    # The live tier uses data_sources() to know which queries need which running component.
    for board in BOARDS.values():
        for title, expr in d.promql_queries(board):
            assert d.data_sources(expr), f"{title}: {expr}"
    assert d.data_sources("sum(rate(otelcol_receiver_accepted_spans[1m]))") == {"collector"}
    # A recording rule over app metrics needs both the app and the rule files.
    assert d.data_sources("app:http_requests:rate5m") == {"app", "recording rules"}


def test_latency_panel_shows_exemplars() -> None:
    board = BOARDS["service-overview.json"]
    latency = [p for p in d.iter_panels(board) if p["title"].startswith("Latency p50")]
    assert latency
    assert any(t.get("exemplar") for t in latency[0]["targets"])


def test_logs_dashboard_filters_by_the_service_variable() -> None:
    board = BOARDS["logs.json"]
    for panel, target in d.iter_targets(board):
        assert 'service_name=~"$service"' in target["expr"], panel["title"]


def test_traces_dashboard_has_search_graph_and_span_metrics() -> None:
    board = BOARDS["traces.json"]
    types = {p["type"] for p in d.iter_panels(board)}
    assert {"nodeGraph", "traces", "table", "timeseries"} <= types
    queries = " ".join(expr for _, expr in d.promql_queries(board))
    for metric in (
        "traces_spanmetrics_calls_total",
        "traces_spanmetrics_latency_bucket",
        "traces_service_graph_request_total",
    ):
        assert metric in queries


# --- the checkers can fail ----------------------------------------------------------------------


@pytest.fixture
def sample() -> dict:
    return copy.deepcopy(BOARDS["service-overview.json"])


def _first_prom_target(board: dict) -> dict:
    return next(t for _, t in d.iter_targets(board) if "expr" in t)


def test_checker_reports_an_undefined_variable(sample: dict) -> None:
    _first_prom_target(sample)["expr"] = 'sum(rate(x{app_name=~"$nosuchvar"}[$__rate_interval]))'
    assert d.undefined_variable_problems(sample) == ["variable $nosuchvar is used but not defined"]


def test_checker_reports_a_braced_undefined_variable(sample: dict) -> None:
    _first_prom_target(sample)["expr"] = 'up{job=~"${other:regex}"}'
    assert d.undefined_variable_problems(sample) == ["variable $other is used but not defined"]


def test_checker_reports_an_unparseable_expression(promtool: str, sample: dict) -> None:
    _first_prom_target(sample)["expr"] = "sum(rate(http_request_duration_seconds_count[5m]"
    problems = d.promtool_parse_problems(promtool, d.promql_queries(sample))
    assert len(problems) == 1
    assert "Request rate" in problems[0]


def test_checker_reports_a_raw_path_label(sample: dict) -> None:
    target = _first_prom_target(sample)
    target["expr"] = "sum by (path) (rate(http_request_duration_seconds_count[5m]))"
    assert len(d.raw_path_problems(sample)) == 1
    target["expr"] = 'sum(rate(http_request_duration_seconds_count{path="/x"}[5m]))'
    assert len(d.raw_path_problems(sample)) == 1
    target["expr"] = "sum(rate(x[5m]))"
    target["legendFormat"] = "{{ path }}"
    assert len(d.raw_path_problems(sample)) == 1


def test_checker_reports_unknown_and_mistyped_datasources(sample: dict) -> None:
    panels = [p for p in d.iter_panels(sample) if p["type"] != "row"]
    panels[0]["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
    panels[1]["datasource"] = {"type": "loki", "uid": "${prometheus}"}
    panels[2]["datasource"] = {"type": "prometheus", "uid": "${missing}"}
    panels[3]["datasource"] = {"type": "loki", "uid": "prometheus"}
    problems = d.datasource_problems(sample, {"prometheus": "prometheus"})
    assert len(problems) == 4, problems


def test_checker_reports_v2_layout_and_bad_uid() -> None:
    v2 = {
        "apiVersion": "dashboard.grafana.app/v2",
        "kind": "Dashboard",
        "spec": {"elements": {}, "layout": {}},
        "uid": "not a uid!",
        "title": "x",
    }
    problems = d.classic_json_problems(v2)
    assert "no `panels` list" in problems
    assert "v2 dashboard key `spec`" in problems
    assert "bad uid 'not a uid!'" in problems


def test_generator_check_mode_detects_a_stale_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(builder, "OUT", tmp_path / "dashboards")
    monkeypatch.setattr(builder, "IMPORT_OUT", tmp_path / "import")
    assert builder.main([]) == 0
    assert builder.main(["--check"]) == 0
    for stale in (tmp_path / "dashboards" / "logs.json", tmp_path / "import" / "traces.json"):
        good = stale.read_text(encoding="utf-8")
        stale.write_text(json.dumps({"edited": "by hand"}), encoding="utf-8")
        assert builder.main(["--check"]) == 1
        stale.write_text(good, encoding="utf-8")
        assert builder.main(["--check"]) == 0
    (tmp_path / "import" / "business.json").unlink()
    assert builder.main(["--check"]) == 1


# --- Grafana's import format (grafana/import/) ---------------------------------------------------

IMPORTS = {path.name: d.load(path) for path in sorted(d.IMPORTS.glob("*.json"))}


def test_committed_import_files_match_the_generator() -> None:
    built = builder.build_imports()
    assert sorted(built) == sorted(BOARDS) == sorted(IMPORTS)
    for name, text in built.items():
        assert (d.IMPORTS / name).read_text(encoding="utf-8") == text, f"import/{name} is stale"


def test_import_files_are_not_provisioned() -> None:
    # The file provider walks its folder recursively: a copy below grafana/dashboards/ would be
    # a second dashboard with the same uid.
    assert not d.IMPORTS.resolve().is_relative_to(d.DASHBOARDS.resolve())


@pytest.mark.parametrize("name", IDS)
def test_import_asks_for_each_datasource_and_yields_the_provisioned_dashboard(name: str) -> None:
    """What Grafana's import does (pkg/services/dashboardimport/utils/dash_template_evaluator.go:
    every "${<input>}" replaced by the chosen datasource's uid) turns the import file into the
    provisioned dashboard again, with the chosen datasources as the variables' defaults."""
    exported = IMPORTS[name]
    inputs = {i["name"]: i for i in exported["__inputs"]}
    ds_vars = [v for v in d.variables(BOARDS[name]).values() if v["type"] == "datasource"]
    assert {i["pluginId"] for i in inputs.values()} == {v["query"] for v in ds_vars}
    assert all(i["type"] == "datasource" for i in inputs.values())
    text = json.dumps(exported)
    assert set(re.findall(r"\$\{(DS_[A-Z_]+)\}", text)) == set(inputs)
    chosen = {f"${{{n}}}": f"their-{i['pluginId']}" for n, i in inputs.items()}
    imported = json.loads(re.sub(r"\$\{DS_[A-Z_]+\}", lambda m: chosen[m.group(0)], text))
    for key in ("__inputs", "__elements", "__requires"):
        imported.pop(key)
    expected = copy.deepcopy(BOARDS[name])
    expected.pop("__comment")
    for var in d.variables(expected).values():
        if var["type"] == "datasource":
            uid = f"their-{var['query']}"
            var["current"] = {"selected": False, "text": uid, "value": uid}
    assert imported == expected


@pytest.mark.parametrize("name", IDS)
def test_import_requires_the_pinned_grafana_and_every_plugin(name: str) -> None:
    exported = IMPORTS[name]
    requires = {(r["type"], r["id"]): r for r in exported["__requires"]}
    env = dict(
        line.split("=", 1)
        for line in (d.ROOT / ".env").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert requires["grafana", "grafana"]["version"] == env["GRAFANA_TAG"]
    panel_types = {p["type"] for p in d.iter_panels(exported)} - {"row"}
    assert {i for t, i in requires if t == "panel"} == panel_types
    assert [r["id"] for r in exported["__requires"]] == sorted(r["id"] for r in requires.values())

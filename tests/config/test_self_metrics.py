"""The stack components' own metrics: one declaration (tests/config/data/self_metrics.yaml) of the
exact names each component exposes at its pinned version, and every rule, rule test, dashboard
query, datasource query and doc held to it.

The class of mistake this guards against: the collector's counters are exposed without `_total`
(collector core v0.152+, a configured pull reader with without_type_suffix), and rules, panels
and alerts that read `otelcol_*_total` stayed empty with every test green."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.config import stackfiles as sf
from tests.support import dashboards as d
from tests.support import prom_rules as r
from tests.support import self_metrics as sm

ROOT = sm.ROOT
DOC = sm.load_yaml()
DECL = sm.declaration(DOC)
RULE_DOCS = [r.load_yaml(p) for p in r.rule_files()]
RECORDED = r.recorded_names(RULE_DOCS)
RULE_TESTS = r.rule_test_files()
BOARDS = {p.name: d.load(p) for p in d.dashboard_files()}
DATASOURCES = sorted((ROOT / "grafana" / "provisioning" / "datasources").glob("*.y*ml"))
# Every file that may name a component's metric in prose, comments or queries.
TEXT_FILES = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *r.rule_files(),
        *RULE_TESTS,
        *d.dashboard_files(),
        *DATASOURCES,
        ROOT / "otel-collector" / "config.yaml",
    ]
)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- the declaration ----------------------------------------------------------------------------


def test_declaration_is_well_formed() -> None:
    assert sm.declaration_problems(DOC) == []


def test_every_component_of_the_stack_is_declared() -> None:
    assert set(DOC["components"]) == {
        "collector",
        "loki",
        "tempo",
        "tempo-metrics-generator",
        "alertmanager",
        "prometheus",
        "grafana",
    }


def test_collector_counters_carry_no_type_or_unit_suffix() -> None:
    collector = {n: t for n, (c, t) in DECL.metrics.items() if c == "collector"}
    assert collector
    for name, kind in collector.items():
        assert not name.endswith("_total"), name
        if kind == "counter":
            assert f"{name}_total" not in DECL.series
    # The three the issue names, exactly.
    assert {
        "otelcol_receiver_accepted_spans",
        "otelcol_exporter_sent_spans",
        "otelcol_processor_incoming_items",
    } <= set(collector)


def test_collector_reader_pins_the_declared_naming() -> None:
    """The declaration's collector names hold because the reader runs without type suffix, unit
    suffix and scope labels; the config sets all three instead of relying on the default that
    collector core changed in v0.152 (PR #15027)."""
    config = sf.load_yaml(sf.COLLECTOR_CONFIG)
    (reader,) = config["service"]["telemetry"]["metrics"]["readers"]
    prometheus = reader["pull"]["exporter"]["prometheus"]
    assert prometheus["without_type_suffix"] is True
    assert prometheus["without_units"] is True
    assert prometheus["without_scope_info"] is True
    # Resource attributes as constant labels would add service_name & co. to every series.
    assert "with_resource_constant_labels" not in prometheus


def test_histograms_are_read_only_through_their_series() -> None:
    latency = "traces_spanmetrics_latency"
    assert DECL.metrics[latency] == ("tempo-metrics-generator", "histogram")
    assert {f"{latency}_bucket", f"{latency}_sum", f"{latency}_count"} <= DECL.series
    assert latency not in DECL.series
    assert sm.name_problems(latency, DECL, RECORDED)


# --- the files that use the names ---------------------------------------------------------------


@pytest.mark.parametrize("path", r.rule_files(), ids=lambda p: p.name)
def test_rule_expressions_read_declared_self_metrics(path: Path) -> None:
    problems = [
        f"{name}: {problem}"
        for name, expr in sm.rule_expressions([r.load_yaml(path)])
        for problem in sm.promql_problems(expr, DECL, RECORDED)
    ]
    assert problems == []


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_rule_tests_feed_series_under_declared_names(path: Path) -> None:
    assert sm.rule_test_problems(r.load_yaml(path), DECL, RECORDED) == []


def test_pipeline_rule_tests_feed_collector_series() -> None:
    # The pipeline alerts are tested on collector series, not only on recorded ones.
    doc = r.load_yaml(r.RULE_TESTS / "pipeline_test.yml")
    fed = {
        name
        for where, selector in sm.rule_test_selectors(doc)
        if "input_series" in where
        for name in sm.promql_names(selector).metrics
    }
    assert {
        "otelcol_receiver_refused_spans",
        "otelcol_receiver_failed_spans",
        "otelcol_exporter_send_failed_log_records",
        "otelcol_exporter_enqueue_failed_log_records",
        "otelcol_exporter_queue_size",
        "otelcol_exporter_queue_capacity",
    } <= fed


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboard_queries_read_declared_self_metrics(name: str) -> None:
    board = BOARDS[name]
    problems = [
        f"{title}: {problem}"
        for title, expr in d.promql_queries(board)
        for problem in sm.promql_problems(expr, DECL, RECORDED)
    ]
    for var_name, var in d.variables(board).items():
        expr = sm.variable_promql(var)
        if expr is not None:
            problems += [
                f"${var_name}: {p}"
                for p in sm.promql_problems(d.substitute(expr, board), DECL, RECORDED)
            ]
    assert problems == []


def test_dashboard_variables_are_read() -> None:
    # The traces dashboard's $service comes from label_values over a span metric.
    exprs = {
        sm.variable_promql(var) for board in BOARDS.values() for var in d.variables(board).values()
    }
    assert "traces_spanmetrics_calls_total" in exprs


@pytest.mark.parametrize("path", TEXT_FILES, ids=rel)
def test_files_name_only_declared_self_metrics(path: Path) -> None:
    assert sm.text_problems(path.read_text(encoding="utf-8"), DECL, RECORDED) == []


def test_text_check_covers_the_files_that_name_self_metrics() -> None:
    named = {
        rel(path) for path in TEXT_FILES if sm.text_names(path.read_text(encoding="utf-8"), DECL)
    }
    assert {
        "docs/runbooks.md",
        "prometheus/rules/pipeline.yml",
        "prometheus/tests/pipeline_test.yml",
        "grafana/dashboards/telemetry-pipeline.json",
        "grafana/dashboards/traces.json",
    } <= named


# --- the checkers can fail ----------------------------------------------------------------------


def test_promql_names_are_metric_names_only() -> None:
    expr = (
        'sum by (otelcol_by_label, job) (rate(otelcol_receiver_accepted_spans{receiver="otlp", '
        'otelcol_label=~"x|y"}[5m] offset 1h)) / on (job) group_left (exporter) '
        "sum without (instance) (otelcol_exporter_queue_capacity > bool 0) "
        'or label_replace(vector(0), "loki_x", "tempo_y", "", "") '
        "unless max_over_time(job_exporter:otelcol_exporter_sent:rate5m[1h:5m]) "
        "and :loan_tagger_failures:rate5m atan2 scalar(up) * Inf"
    )
    names = sm.promql_names(expr)
    assert names.metrics == {
        "otelcol_receiver_accepted_spans",
        "otelcol_exporter_queue_capacity",
        "job_exporter:otelcol_exporter_sent:rate5m",
        ":loan_tagger_failures:rate5m",
        "up",
    }
    assert names.patterns == frozenset()


def test_promql_names_reads_name_matchers() -> None:
    names = sm.promql_names(
        '{__name__="otelcol_exporter_sent_spans", exporter!="x"} + '
        '{__name__=~"job_receiver:otelcol_receiver_(refused|failed):rate5m"} + '
        '{"traces_spanmetrics_calls_total", service="api"} + {__name__!="tempo_nothing"}'
    )
    assert names.metrics == {"otelcol_exporter_sent_spans", "traces_spanmetrics_calls_total"}
    assert names.patterns == {"job_receiver:otelcol_receiver_(refused|failed):rate5m"}


def test_promql_check_rejects_the_total_suffix_and_names_the_real_series() -> None:
    problems = sm.promql_problems(
        "sum(rate(otelcol_receiver_accepted_spans_total[5m]))", DECL, RECORDED
    )
    assert problems == [
        "otelcol_receiver_accepted_spans_total: collector exposes no such series at the pinned "
        "version; collector exposes otelcol_receiver_accepted_spans"
    ]
    # And the other way round: a Go client counter without its `_total`.
    (problem,) = sm.promql_problems("rate(loki_discarded_samples[5m])", DECL, RECORDED)
    assert problem.endswith("loki exposes loki_discarded_samples_total")


def test_promql_check_rejects_an_undeclared_name_of_every_component() -> None:
    for name in (
        "otelcol_exporter_queue_length",
        "loki_ingester_streams",
        "tempo_ingester_traces",
        "traces_spanmetrics_latency",
        "prometheus_tsdb_head_series",
        "grafana_http_request_duration_seconds_count",
    ):
        assert len(sm.promql_problems(f"sum({name})", DECL, RECORDED)) == 1, name


def test_promql_check_leaves_labels_strings_and_app_metrics_alone() -> None:
    exprs = (
        'sum by (loki_tenant) (http_requests_total{otelcol_label="otelcol_bogus_total"})',
        'label_replace(up, "tempo_x", "$1", "job", "(.*)")',
        'count_values("otelcol_value", up)',
    )
    for expr in exprs:
        assert sm.promql_problems(expr, DECL, RECORDED) == [], expr


def test_promql_check_holds_colon_names_to_the_rule_files() -> None:
    assert sm.promql_problems("job_receiver:otelcol_receiver_accepted:rate5m", DECL, RECORDED) == []
    assert sm.promql_problems(
        "job_receiver:otelcol_receiver_accepted_total:rate5m", DECL, RECORDED
    ) == ["job_receiver:otelcol_receiver_accepted_total:rate5m: no recording rule records it"]
    (problem,) = sm.promql_problems(
        '{__name__=~"otelcol_receiver_(refused|failed)_spans_total"}', DECL, RECORDED
    )
    assert "matches no declared self-metric" in problem
    (problem,) = sm.promql_problems('{__name__=~"otelcol_(receiver"}', DECL, RECORDED)
    assert "is not a regular expression" in problem


def test_promql_lexer_rejects_what_is_not_promql() -> None:
    assert sm.promql_problems("sum(rate(x[5m]) $oops", DECL, RECORDED)
    with pytest.raises(sm.PromQLSyntaxError):
        sm.promql_names('up{job="api"')
    with pytest.raises(sm.PromQLSyntaxError):
        sm.promql_names("up{job=api}")


def test_rule_test_check_flags_a_series_fed_under_a_wrong_name() -> None:
    doc: dict[str, Any] = copy.deepcopy(r.load_yaml(r.RULE_TESTS / "pipeline_test.yml"))
    series = doc["tests"][2]["input_series"][0]
    series["series"] = series["series"].replace(
        "otelcol_receiver_accepted_spans{", "otelcol_receiver_accepted_spans_total{"
    )
    problems = sm.rule_test_problems(doc, DECL, RECORDED)
    assert len(problems) == 1
    assert problems[0].startswith("test 2 input_series: otelcol_receiver_accepted_spans_total:")


def test_dashboard_check_flags_a_wrong_panel_query() -> None:
    board = copy.deepcopy(BOARDS["telemetry-pipeline.json"])
    for _, target in d.iter_targets(board):
        if "otelcol_processor_incoming_items" in target.get("expr", ""):
            target["expr"] = target["expr"].replace(
                "otelcol_processor_incoming_items", "otelcol_processor_incoming_items_total"
            )
            break
    else:
        pytest.fail("no processor panel")
    problems = [
        p for _, expr in d.promql_queries(board) for p in sm.promql_problems(expr, DECL, RECORDED)
    ]
    assert len(problems) == 1
    assert "otelcol_processor_incoming_items_total" in problems[0]


def test_text_check_expands_alternatives_and_wildcards() -> None:
    text = (
        "Counters `otelcol_receiver_{accepted,refused}_spans` and `otelcol_exporter_sent_*`;"
        " `loki_distributor_{lines,bytes}_received_total`; recorded:"
        " `job_exporter:otelcol_exporter_sent:rate5m`. Query: localhost:9090, http://x,"
        " /run/stack-secrets/grafana_admin_password, `prometheus_client`, the `loki_` prefix."
    )
    assert sm.text_problems(text, DECL, RECORDED) == []
    assert sm.text_names(text, DECL) == {
        "otelcol_receiver_accepted_spans",
        "otelcol_receiver_refused_spans",
        "otelcol_exporter_sent_*",
        "loki_distributor_lines_received_total",
        "loki_distributor_bytes_received_total",
        "job_exporter:otelcol_exporter_sent:rate5m",
    }


def test_text_check_flags_wrong_names_in_prose() -> None:
    text = (
        "See `otelcol_exporter_{sent,dropped}_spans_total`, `tempo_ingester_*`, "
        "`job_exporter:otelcol_exporter_dropped:rate5m` and grafana_api_calls."
    )
    assert sm.text_problems(text, DECL, RECORDED) == [
        "grafana_api_calls: grafana exposes no such series at the pinned version",
        "job_exporter:otelcol_exporter_dropped:rate5m: no recording rule records it",
        "otelcol_exporter_dropped_spans_total: collector exposes no such series at the pinned "
        "version",
        "otelcol_exporter_sent_spans_total: collector exposes no such series at the pinned "
        "version; collector exposes otelcol_exporter_sent_spans",
        "tempo_ingester_*: matches no declared self-metric and no recording rule",
    ]


def test_declaration_check_flags_a_bad_declaration() -> None:
    bad: dict[str, Any] = copy.deepcopy(DOC)
    collector = bad["components"]["collector"]
    collector["groups"][0]["source"] = "somewhere on the internet"
    collector["groups"][0]["metrics"]["loki_in_the_wrong_place"] = "counter"
    collector["groups"][1]["metrics"]["otelcol_receiver_accepted_spans"] = "counter"
    collector["groups"][2]["metrics"]["otelcol_processor_weird"] = "summary"
    del bad["components"]["grafana"]
    problems = sm.declaration_problems(bad)
    assert problems == [
        "prefix grafana_: component 'grafana' is not declared",
        "collector group 0: `source` does not start with <owner/repo> <tag>",
        "loki_in_the_wrong_place: does not start with a prefix of collector",
        "otelcol_receiver_accepted_spans: declared twice (collector and collector)",
        "otelcol_processor_weird: type 'summary' is not one of ['counter', 'gauge', 'histogram']",
    ]

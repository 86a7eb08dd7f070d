"""Build the Grafana dashboards in grafana/dashboards/*.json from plain Python dicts.

    uv run python scripts/build_dashboards.py          # write the JSON files
    uv run python scripts/build_dashboards.py --check  # exit 1 if a committed file is stale

The JSON files are committed (Grafana provisions them from disk); tests/config/test_dashboards.py
fails when they differ from what this script builds.

Every dashboard is classic JSON (`panels`, `templating`, `schemaVersion`): Grafana's file
provisioning rejects the v2 layout. Panels never name a datasource uid directly: each dashboard
has a datasource variable per datasource type (`prometheus`, `loki`, `tempo`), defaulting to the
uids provisioned in grafana/provisioning/datasources/, so a team can import a dashboard into its
own Grafana and pick its own datasources.

Metric and label names follow docs/architecture.md and the upstream sources noted next to each
dashboard. Panels reading recording rules (`level:metric:operation` names) need the rule files in
prometheus/rules/ loaded into the same Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "grafana" / "dashboards"

SCHEMA_VERSION = 39
TAG = "loan-desk"

PROM = {"type": "prometheus", "uid": "${prometheus}"}
LOKI = {"type": "loki", "uid": "${loki}"}
TEMPO = {"type": "tempo", "uid": "${tempo}"}

# The middleware never counts these; filtering them again keeps the panels right for teams whose
# instrumentation does.
NOT_INFRA = 'route!~"/metrics|/health/.*"'
HTTP_SEL = f'app_name=~"$service", route=~"$route", {NOT_INFRA}'
SLO_SECONDS = "0.5"
SERVER_ERRORS = 'status_code=~"5.."'

UIDS = {
    "service": "loan-desk-service-overview",
    "logs": "loan-desk-logs",
    "traces": "loan-desk-traces",
    "business": "loan-desk-business",
    "pipeline": "loan-desk-pipeline",
}

Json = dict[str, Any]


# --- variables --------------------------------------------------------------------------------


def datasource_var(name: str, ds_type: str, label: str, default_uid: str) -> Json:
    """A datasource picker; defaults to the provisioned uid, falls back to any of the type."""
    return {
        "type": "datasource",
        "name": name,
        "label": label,
        "query": ds_type,
        "current": {"selected": False, "text": label, "value": default_uid},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def prom_query_var(name: str, label: str, query: str, *, multi: bool = True) -> Json:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PROM,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "allValue": ".*" if multi else None,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
        "hide": 0,
        "options": [],
        "regex": "",
        "skipUrlSync": False,
    }


def loki_label_var(name: str, label: str, loki_label: str) -> Json:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": LOKI,
        "definition": f"label_values({loki_label})",
        "query": {
            "type": 1,
            "label": loki_label,
            "stream": "",
            "refId": "LokiVariableQueryEditor-VariableQuery",
        },
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "options": [],
        "regex": "",
        "skipUrlSync": False,
    }


def custom_var(
    name: str, label: str, values: list[str], *, default: str, multi: bool, all_value: str = ".*"
) -> Json:
    options = [{"selected": v == default, "text": v, "value": v} for v in values]
    var: Json = {
        "type": "custom",
        "name": name,
        "label": label,
        "query": ",".join(values),
        "multi": multi,
        "includeAll": multi,
        "current": (
            {"selected": True, "text": ["All"], "value": ["$__all"]}
            if default == "All"
            else {"selected": True, "text": default, "value": default}
        ),
        "options": options,
        "hide": 0,
        "skipUrlSync": False,
    }
    if multi:
        var["allValue"] = all_value
    return var


def textbox_var(name: str, label: str, default: str = "") -> Json:
    return {
        "type": "textbox",
        "name": name,
        "label": label,
        "query": default,
        "current": {"selected": False, "text": default, "value": default},
        "options": [{"selected": True, "text": default, "value": default}],
        "hide": 0,
        "skipUrlSync": False,
    }


# --- queries ----------------------------------------------------------------------------------


def prom(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    table: bool = False,
    exemplar: bool = False,
    heatmap: bool = False,
) -> Json:
    target: Json = {
        "datasource": PROM,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "exemplar": exemplar,
    }
    if table:
        target["format"] = "table"
    elif heatmap:
        target["format"] = "heatmap"
    return target


def loki(
    expr: str, legend: str = "", *, instant: bool = False, max_lines: int | None = None
) -> Json:
    target: Json = {
        "datasource": LOKI,
        "editorMode": "code",
        "expr": expr,
        "queryType": "instant" if instant else "range",
        "legendFormat": legend,
    }
    if max_lines is not None:
        target["maxLines"] = max_lines
    return target


def traceql(query: str, *, limit: int = 20) -> Json:
    return {
        "datasource": TEMPO,
        "queryType": "traceql",
        "query": query,
        "limit": limit,
        "spss": 3,
        "tableType": "traces",
        "filters": [],
    }


# --- panels -----------------------------------------------------------------------------------


def thresholds(*steps: tuple[str, float | None]) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


GREEN_ONLY = thresholds(("green", None))


def timeseries(
    title: str,
    description: str,
    targets: list[Json],
    *,
    unit: str = "short",
    stack: bool = False,
    bars: bool = False,
    datasource: Json = PROM,
    minimum: float | None = 0,
    maximum: float | None = None,
    threshold_steps: Json | None = None,
    overrides: list[Json] | None = None,
) -> Json:
    defaults: Json = {
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "bars" if bars else "line",
            "lineWidth": 1,
            "fillOpacity": 60 if bars else (25 if stack else 8),
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "dashed" if threshold_steps else "off"},
        },
        "thresholds": threshold_steps or GREEN_ONLY,
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {
                "showLegend": True,
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["mean", "max", "lastNotNull"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    description: str,
    targets: list[Json],
    *,
    unit: str = "short",
    datasource: Json = PROM,
    threshold_steps: Json | None = None,
    mappings: list[Json] | None = None,
    decimals: int | None = None,
    graph: bool = True,
) -> Json:
    defaults: Json = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": threshold_steps or GREEN_ONLY,
        "mappings": mappings or [],
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }


def table(
    title: str,
    description: str,
    targets: list[Json],
    *,
    datasource: Json = PROM,
    transformations: list[Json] | None = None,
    overrides: list[Json] | None = None,
) -> Json:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "transformations": transformations or [],
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto", "filterable": True}},
            "overrides": overrides or [],
        },
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
    }


def unit_override(field: str, unit: str, display: str | None = None) -> Json:
    properties: list[Json] = [{"id": "unit", "value": unit}]
    if display:
        properties.append({"id": "displayName", "value": display})
    return {"matcher": {"id": "byName", "options": field}, "properties": properties}


def link_override(field: str, title: str, url: str) -> Json:
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "links", "value": [{"title": title, "url": url}]}],
    }


def row(title: str) -> Json:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(items: list[tuple[Json, int, int]]) -> list[Json]:
    """Place panels left to right, wrapping at 24 columns; rows take a full line."""
    panels: list[Json] = []
    x = y = line_height = 0
    for panel_id, (panel, width, height) in enumerate(items, start=1):
        if panel["type"] == "row":
            if x:
                y += line_height
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y += 1
            x = line_height = 0
        else:
            if x + width > 24:
                y += line_height
                x = line_height = 0
            panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            x += width
            line_height = max(line_height, height)
        panel["id"] = panel_id
        for ref, target in zip("ABCDEFGHIJ", panel.get("targets", []), strict=False):
            target["refId"] = ref
        panels.append(panel)
    return panels


def dashboard(
    key: str,
    title: str,
    description: str,
    variables: list[Json],
    items: list[tuple[Json, int, int]],
    *,
    refresh: str = "30s",
    time_from: str = "now-15m",
    annotations: list[Json] | None = None,
) -> Json:
    return {
        "__comment": "Generated by scripts/build_dashboards.py; edit the script, not this file.",
        "id": None,
        "uid": UIDS[key],
        "title": title,
        "description": description,
        "tags": [TAG],
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "timezone": "browser",
        "weekStart": "",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                *(annotations or []),
            ]
        },
        "links": [
            {
                "type": "dashboards",
                "title": "Loan desk dashboards",
                "tags": [TAG],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables},
        "panels": layout(items),
    }


# --- Service overview -------------------------------------------------------------------------

# The version is not a label of the HTTP metrics (it would double every histogram series during a
# rollout): it is joined in per instance from app_info{version}, which each process serves
# (docs/architecture.md). max by () keeps the join one-to-one even if an instance briefly shows
# two app_info series.
VERSION_JOIN = (
    "on (job, instance) group_left (version) max by (job, instance, version) "
    '(app_info{app_name=~"$service"})'
)

# Trainer mode (docs/tour.md): a band on every panel while a scenario is switched on.
SCENARIO_ANNOTATION: Json = {
    "name": "Trainer scenarios",
    "datasource": PROM,
    "enable": True,
    "hide": False,
    "iconColor": "orange",
    "expr": 'max by (scenario, app_name, instance) (trainer_scenario_active{app_name=~"$service"})'
    " > 0",
    "step": "15s",
    "titleFormat": "scenario {{scenario}}",
    "textFormat": "{{app_name}} {{instance}}",
    "tagKeys": "scenario,app_name,instance",
    "useValueForTime": False,
}


def service_overview() -> Json:
    def rate(metric: str, extra: str = "", window: str = "$__rate_interval") -> str:
        sel = HTTP_SEL + (f", {extra}" if extra else "")
        return f"rate(http_request_duration_seconds_{metric}{{{sel}}}[{window}])"

    def quantile(q: str, by: str = "le") -> str:
        return f"histogram_quantile({q}, sum by ({by}) ({rate('bucket')}))"

    rules_sel = 'app_name=~"$service", route=~"$route"'
    items: list[tuple[Json, int, int]] = [
        (row("Golden signals"), 24, 1),
        (
            stat(
                "Request rate",
                "Requests per second answered by the selected services and routes. "
                "/metrics and the health probes are not counted.",
                [prom(f"sum({rate('count')})")],
                unit="reqps",
            ),
            4,
            4,
        ),
        (
            stat(
                "Error ratio (5xx)",
                "Share of requests answered with a 5xx status. 4xx (bad input, missing "
                "token) is the client's doing and is not counted. Alert HttpHighErrorRatio "
                "fires above 5% for 5 minutes.",
                [
                    prom(
                        f"(sum({rate('count', SERVER_ERRORS)}) or vector(0)) / sum({rate('count')})"
                    )
                ],
                unit="percentunit",
                decimals=2,
                threshold_steps=thresholds(("green", None), ("orange", 0.01), ("red", 0.05)),
            ),
            4,
            4,
        ),
        (
            stat(
                "Latency p99",
                "99% of requests finished faster than this. The objective is 99% within "
                f"{SLO_SECONDS} s.",
                [prom(quantile("0.99"))],
                unit="s",
                threshold_steps=thresholds(("green", None), ("red", float(SLO_SECONDS))),
            ),
            4,
            4,
        ),
        (
            stat(
                "Within latency objective",
                f"Share of requests over the whole time range that finished within {SLO_SECONDS} s "
                '(histogram bucket le="0.5"). The objective is 99%.',
                [
                    prom(
                        f'sum(increase(http_request_duration_seconds_bucket{{{HTTP_SEL}, le="0.5"}}'
                        f"[$__range])) / sum(increase(http_request_duration_seconds_count"
                        f"{{{HTTP_SEL}}}[$__range]))",
                        instant=True,
                    )
                ],
                unit="percentunit",
                decimals=2,
                graph=False,
                threshold_steps=thresholds(("red", None), ("green", 0.99)),
            ),
            4,
            4,
        ),
        (
            stat(
                "Latency budget burn rate (1h)",
                "How fast the last hour spends the latency error budget: 1 spends it exactly "
                "in 30 days, 14.4 in about 2 days (fast-burn alert). From the recording rule "
                "app:http_request_slow:ratio_rate1h divided by the 1% budget.",
                [prom('max(app:http_request_slow:ratio_rate1h{app_name=~"$service"}) / 0.01')],
                unit="x",
                decimals=1,
                threshold_steps=thresholds(("green", None), ("orange", 1), ("red", 6)),
            ),
            4,
            4,
        ),
        (
            stat(
                "Requests in progress",
                "Requests being handled right now (gauge). A number that keeps growing means "
                "requests pile up: a slow dependency or a blocked event loop.",
                [prom('sum(http_requests_in_progress{app_name=~"$service", route=~"$route"})')],
                unit="short",
            ),
            4,
            4,
        ),
        (row("Versions (canary)"), 24, 1),
        (
            timeseries(
                "Request rate by version",
                "Requests per second per service version (service.version; app_info{version} "
                "joined per instance). During a canary release the new version takes its "
                "share of the traffic here.",
                [
                    prom(
                        f"sum by (app_name, version) ({rate('count')} * {VERSION_JOIN})",
                        "{{app_name}} {{version}}",
                    )
                ],
                unit="reqps",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Error ratio (5xx) by version",
                "Share of each version's requests answered with 5xx. A canary whose line "
                "leaves the others' is a bad release: roll it back before it takes more traffic.",
                [
                    prom(
                        f"(sum by (app_name, version) ({rate('count', SERVER_ERRORS)} * "
                        f"{VERSION_JOIN}) or sum by (app_name, version) ({rate('count')} * "
                        f"{VERSION_JOIN}) * 0) / sum by (app_name, version) ({rate('count')} * "
                        f"{VERSION_JOIN})",
                        "{{app_name}} {{version}}",
                    )
                ],
                unit="percentunit",
                threshold_steps=thresholds(("green", None), ("red", 0.05)),
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Latency p99 by version",
                "99th percentile of request duration per version, from the histogram buckets "
                f"joined with app_info. The dashed line is the {SLO_SECONDS} s objective.",
                [
                    prom(
                        "histogram_quantile(0.99, sum by (app_name, version, le) "
                        f"({rate('bucket')} * {VERSION_JOIN}))",
                        "{{app_name}} {{version}}",
                    )
                ],
                unit="s",
                threshold_steps=thresholds(("green", None), ("red", float(SLO_SECONDS))),
            ),
            8,
            8,
        ),
        (row("Traffic"), 24, 1),
        (
            timeseries(
                "Request rate by route",
                "Requests per second per service and route template (never the raw path, so "
                'ids do not explode the series). route="unmatched" counts requests no route '
                "matched (404s from scanners, typos).",
                [
                    prom(
                        f"sum by (app_name, route) ({rate('count')})",
                        "{{app_name}} {{route}}",
                    )
                ],
                unit="reqps",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Responses by status code",
                "Requests per second by HTTP status code, stacked. 2xx is success, 4xx the "
                "client's mistake, 5xx a server failure.",
                [prom(f"sum by (status_code) ({rate('count')})", "{{status_code}}")],
                unit="reqps",
                stack=True,
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Requests in progress by route",
                "Concurrent requests per route. Steps up and down with load; a plateau that "
                "does not come down is a stuck request.",
                [
                    prom(
                        "sum by (app_name, route) (http_requests_in_progress"
                        '{app_name=~"$service", route=~"$route"})',
                        "{{app_name}} {{route}}",
                    )
                ],
            ),
            8,
            8,
        ),
        (row("Errors"), 24, 1),
        (
            timeseries(
                "Error ratio (5xx) by route",
                "Share of each route's requests answered with 5xx, over 5 minutes (recording "
                "rule app_route:http_request_error:ratio_rate5m from prometheus/rules/http.yml). "
                "The dashed line is the 5% alert threshold.",
                [
                    prom(
                        f"app_route:http_request_error:ratio_rate5m{{{rules_sel}}}",
                        "{{app_name}} {{route}}",
                    )
                ],
                unit="percentunit",
                threshold_steps=thresholds(("green", None), ("red", 0.05)),
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Unhandled exceptions by type",
                "Exceptions that escaped a route handler, per second, by exception class. Each "
                "one is also a 5xx response and an error span in the trace.",
                [
                    prom(
                        "sum by (app_name, exception_type) (rate(http_request_exceptions_total"
                        '{app_name=~"$service", route=~"$route"}[$__rate_interval]))',
                        "{{app_name}} {{exception_type}}",
                    )
                ],
                unit="reqps",
            ),
            12,
            8,
        ),
        (row("Latency"), 24, 1),
        (
            timeseries(
                "Latency p50 / p90 / p99 (dots are exemplars: click for the trace)",
                "Percentiles of request duration over the selected services and routes, "
                "estimated from the histogram buckets. The dots are exemplars: sampled requests "
                "that carry their trace_id; click one and choose the Tempo link to open that "
                "request's trace.",
                [
                    prom(quantile("0.50"), "p50", exemplar=True),
                    prom(quantile("0.90"), "p90"),
                    prom(quantile("0.99"), "p99"),
                ],
                unit="s",
                threshold_steps=thresholds(("green", None), ("red", float(SLO_SECONDS))),
            ),
            12,
            9,
        ),
        (
            timeseries(
                "Latency p99 by route",
                "99th percentile per route over 5 minutes (recording rule "
                "app_route:http_request_duration_seconds:p99_rate5m). The dashed line is the "
                f"{SLO_SECONDS} s objective.",
                [
                    prom(
                        f"app_route:http_request_duration_seconds:p99_rate5m{{{rules_sel}}}",
                        "{{app_name}} {{route}}",
                    )
                ],
                unit="s",
                threshold_steps=thresholds(("green", None), ("red", float(SLO_SECONDS))),
            ),
            12,
            9,
        ),
        (
            {
                "type": "heatmap",
                "title": "Latency distribution",
                "description": "How many requests fell into each duration bucket over time. "
                "A second band appearing higher up is a new slow path.",
                "datasource": PROM,
                "targets": [
                    prom(
                        f"sum by (le) (increase(http_request_duration_seconds_bucket{{{HTTP_SEL}}}"
                        "[$__rate_interval]))",
                        "{{le}}",
                        heatmap=True,
                    )
                ],
                "fieldConfig": {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}}},
                "options": {
                    "calculate": False,
                    "yAxis": {"unit": "s", "axisPlacement": "left"},
                    "rowsFrame": {"layout": "auto"},
                    "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
                    "cellGap": 1,
                    "tooltip": {"mode": "single", "yHistogram": True},
                    "legend": {"show": True},
                    "exemplars": {"color": "rgba(255,0,255,0.7)"},
                },
            },
            12,
            9,
        ),
        (
            timeseries(
                "Latency budget burn rate",
                "Share of requests slower than the objective, divided by the 1% budget, over "
                "three windows (recording rules app:http_request_slow:ratio_rate5m/1h/6h). "
                "Fast-burn alert: 14.4 over 1h and 5m, or 6 over 6h and 30m.",
                [
                    prom(
                        f'app:http_request_slow:ratio_rate{w}{{app_name=~"$service"}} / 0.01',
                        f"{{{{app_name}}}} {w}",
                    )
                    for w in ("5m", "1h", "6h")
                ],
                unit="x",
                threshold_steps=thresholds(("green", None), ("orange", 6), ("red", 14.4)),
            ),
            12,
            9,
        ),
        (row("Routes"), 24, 1),
        (
            table(
                "Routes (last 5 minutes)",
                "One line per route: request rate, 5xx ratio and latency percentiles over the "
                "last 5 minutes, from the recording rules in prometheus/rules/http.yml. Sort by "
                "any column.",
                [
                    prom(
                        f"app_route:http_requests:rate5m{{{rules_sel}}}", instant=True, table=True
                    ),
                    prom(
                        f"app_route:http_request_error:ratio_rate5m{{{rules_sel}}}",
                        instant=True,
                        table=True,
                    ),
                    *(
                        prom(
                            f"app_route:http_request_duration_seconds:{q}_rate5m{{{rules_sel}}}",
                            instant=True,
                            table=True,
                        )
                        for q in ("p50", "p90", "p99")
                    ),
                ],
                transformations=[
                    {"id": "merge", "options": {}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True},
                            "renameByName": {
                                "app_name": "Service",
                                "route": "Route",
                                "Value #A": "Requests/s",
                                "Value #B": "5xx ratio",
                                "Value #C": "p50",
                                "Value #D": "p90",
                                "Value #E": "p99",
                            },
                        },
                    },
                ],
                overrides=[
                    unit_override("Requests/s", "reqps"),
                    unit_override("5xx ratio", "percentunit"),
                    unit_override("p50", "s"),
                    unit_override("p90", "s"),
                    unit_override("p99", "s"),
                ],
            ),
            24,
            8,
        ),
    ]
    return dashboard(
        "service",
        "Service overview",
        "RED view of the HTTP services (request rate, errors, duration) from the "
        "http_request_duration_seconds histogram, compared by version (canary), with trainer "
        "scenarios shown as annotations.",
        [
            datasource_var("prometheus", "prometheus", "Prometheus", "prometheus"),
            prom_query_var(
                "service", "Service", "label_values(http_request_duration_seconds_count, app_name)"
            ),
            prom_query_var(
                "route",
                "Route",
                'label_values(http_request_duration_seconds_count{app_name=~"$service"}, route)',
            ),
        ],
        [*items, *alert_list_items()],
        refresh="10s",
        annotations=[SCENARIO_ANNOTATION],
    )


# --- Logs -------------------------------------------------------------------------------------

# Loki 3 stores OTLP logs with the index label service_name; trace_id, span_id and severity_text
# are structured metadata, and the distributor adds detected_level (lower-case: error, warn,
# info, debug, ...) from severity_text (grafana/loki pkg/distributor/field_detection.go).
ERROR_LEVELS = "error|critical|fatal"
LOG_SEL = '{service_name=~"$service"}'
LOG_FILTERS = '|~ "(?i)$search" | detected_level=~"$level"'


def logs_dashboard() -> Json:
    trace_link = f"/d/{UIDS['traces']}/traces?var-trace_id=${{__value.raw}}&${{__url_time_range}}"
    items: list[tuple[Json, int, int]] = [
        (row("Volume"), 24, 1),
        (
            timeseries(
                "Log lines by level",
                "Log lines per interval by level (Loki's detected_level, derived from the OTLP "
                "severity). A jump in error or warn is the first thing to look at.",
                [
                    loki(
                        f"sum by (detected_level) (count_over_time({LOG_SEL} {LOG_FILTERS} "
                        "[$__auto]))",
                        "{{detected_level}}",
                    )
                ],
                datasource=LOKI,
                stack=True,
                bars=True,
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": name},
                        "properties": [
                            {"id": "color", "value": {"mode": "fixed", "fixedColor": color}}
                        ],
                    }
                    for name, color in (
                        ("error", "red"),
                        ("critical", "dark-red"),
                        ("warn", "orange"),
                        ("info", "green"),
                        ("debug", "blue"),
                    )
                ],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Log lines by service",
                "Log lines per interval by service (the OTLP resource attribute service.name, "
                "index label service_name in Loki).",
                [
                    loki(
                        f"sum by (service_name) (count_over_time({LOG_SEL} {LOG_FILTERS} "
                        "[$__auto]))",
                        "{{service_name}}",
                    )
                ],
                datasource=LOKI,
                stack=True,
                bars=True,
            ),
            12,
            8,
        ),
        (row("Errors"), 24, 1),
        (
            stat(
                "Error lines in range",
                "Log lines at level error, critical or fatal over the whole time range.",
                [
                    loki(
                        f'sum(count_over_time({LOG_SEL} | detected_level=~"{ERROR_LEVELS}" '
                        "[$__range]))",
                        instant=True,
                    )
                ],
                datasource=LOKI,
                threshold_steps=thresholds(("green", None), ("red", 1)),
                graph=False,
            ),
            4,
            8,
        ),
        (
            table(
                "Recent errors (click a trace id to open the trace)",
                "The latest error-level lines. The trace_id column links to the Traces "
                "dashboard with that trace opened: the request that logged the error, span by "
                "span.",
                [
                    loki(
                        f'{LOG_SEL} | detected_level=~"{ERROR_LEVELS}"',
                        max_lines=50,
                    )
                ],
                datasource=LOKI,
                transformations=[
                    {
                        "id": "extractFields",
                        "options": {"source": "labels", "format": "auto", "replace": False},
                    },
                    {
                        "id": "organize",
                        "options": {
                            "includeByName": {
                                "Time": True,
                                "service_name": True,
                                "detected_level": True,
                                "trace_id": True,
                                "Line": True,
                            },
                            "indexByName": {
                                "Time": 0,
                                "service_name": 1,
                                "detected_level": 2,
                                "trace_id": 3,
                                "Line": 4,
                            },
                        },
                    },
                ],
                overrides=[link_override("trace_id", "Open this trace", trace_link)],
            ),
            20,
            8,
        ),
        (row("Logs"), 24, 1),
        (
            {
                "type": "logs",
                "title": "Logs",
                "description": "Log lines of the selected services, newest first, filtered by "
                "level and the search box (a case-insensitive regular expression). Expand a "
                "line: its trace_id field has a 'View trace' link (the Loki datasource's "
                "derived field) that opens the trace in Tempo.",
                "datasource": LOKI,
                "targets": [loki(f"{LOG_SEL} {LOG_FILTERS}", max_lines=500)],
                "options": {
                    "showTime": True,
                    "showLabels": False,
                    "showCommonLabels": False,
                    "wrapLogMessage": True,
                    "prettifyLogMessage": False,
                    "enableLogDetails": True,
                    "enableInfiniteScrolling": True,
                    "dedupStrategy": "none",
                    "sortOrder": "Descending",
                },
            },
            24,
            14,
        ),
    ]
    return dashboard(
        "logs",
        "Logs",
        "Application logs in Loki (OTLP): volume by level and service, recent errors linked "
        "to their traces, and the log stream filtered by service, level and text.",
        [
            datasource_var("loki", "loki", "Loki", "loki"),
            loki_label_var("service", "Service", "service_name"),
            custom_var(
                "level",
                "Level",
                ["error", "critical", "fatal", "warn", "info", "debug", "trace", "unknown"],
                default="All",
                multi=True,
            ),
            textbox_var("search", "Search (regex)"),
        ],
        [*items, *alert_notification_items()],
    )


# --- Traces -----------------------------------------------------------------------------------

# Tempo 3.0 metrics generator (grafana/tempo modules/generator/processor/): span metrics
# traces_spanmetrics_calls_total and traces_spanmetrics_latency_{bucket,sum,count} with labels
# service, span_name, span_kind (SPAN_KIND_SERVER, ...), status_code (STATUS_CODE_OK,
# STATUS_CODE_ERROR, STATUS_CODE_UNSET); service graph traces_service_graph_request_total,
# traces_service_graph_request_failed_total with labels client, server, connection_type.
SPAN_SEL = 'service=~"$service", span_kind=~"$span_kind"'


def traces_dashboard() -> Json:
    calls = f"traces_spanmetrics_calls_total{{{SPAN_SEL}}}"
    items: list[tuple[Json, int, int]] = [
        (row("Find traces"), 24, 1),
        (
            table(
                "Slow requests",
                "Server spans slower than the 'Slow above' threshold (TraceQL). Click a trace "
                "id to open it.",
                [
                    traceql(
                        '{ resource.service.name =~ "${service:regex}" && kind = server '
                        "&& duration > $slow }"
                    )
                ],
                datasource=TEMPO,
            ),
            12,
            9,
        ),
        (
            table(
                "Failed requests",
                "Traces with a span whose status is error (TraceQL). Click a trace id to open "
                "it; the failing span is marked red.",
                [traceql('{ resource.service.name =~ "${service:regex}" && status = error }')],
                datasource=TEMPO,
            ),
            12,
            9,
        ),
        (
            {
                "type": "traces",
                "title": "Trace",
                "description": "The trace whose id is in the Trace ID box at the top. The "
                "Logs dashboard's recent errors link here with the id filled in.",
                "datasource": TEMPO,
                "targets": [
                    {
                        "datasource": TEMPO,
                        "queryType": "traceql",
                        "query": "$trace_id",
                        "limit": 1,
                        "filters": [],
                    }
                ],
                "options": {},
            },
            24,
            14,
        ),
        (row("Service graph"), 24, 1),
        (
            {
                "type": "nodeGraph",
                "title": "Service graph",
                "description": "Which service calls which, built by Tempo's metrics generator "
                "from client/server span pairs (traces_service_graph_* in Prometheus). Node "
                "colour shows the share of failed requests.",
                "datasource": TEMPO,
                "targets": [
                    {
                        "datasource": TEMPO,
                        "queryType": "serviceMap",
                        "serviceMapQuery": "",
                        "filters": [],
                    }
                ],
                "options": {},
            },
            12,
            12,
        ),
        (
            timeseries(
                "Requests between services",
                "Requests per second on each edge of the service graph (client -> server).",
                [
                    prom(
                        "sum by (client, server) (rate(traces_service_graph_request_total"
                        "[$__rate_interval]))",
                        "{{client}} -> {{server}}",
                    ),
                    prom(
                        "sum by (client, server) (rate(traces_service_graph_request_failed_total"
                        "[$__rate_interval]))",
                        "failed {{client}} -> {{server}}",
                    ),
                ],
                unit="reqps",
            ),
            12,
            12,
        ),
        (row("Span metrics per operation (Tempo metrics generator)"), 24, 1),
        (
            timeseries(
                "Rate per operation",
                "Spans per second per service and span name, from Tempo's span metrics. The "
                "Span kind picker chooses server spans (requests served), client spans "
                "(calls made), and so on.",
                [
                    prom(
                        f"sum by (service, span_name) (rate({calls}[$__rate_interval]))",
                        "{{service}} {{span_name}}",
                    )
                ],
                unit="ops",
            ),
            8,
            9,
        ),
        (
            timeseries(
                "Error ratio per operation",
                "Share of each operation's spans with status error.",
                [
                    prom(
                        "(sum by (service, span_name) (rate(traces_spanmetrics_calls_total"
                        f'{{{SPAN_SEL}, status_code="STATUS_CODE_ERROR"}}[$__rate_interval]))'
                        f" or sum by (service, span_name) (rate({calls}[$__rate_interval])) * 0)"
                        f" / sum by (service, span_name) (rate({calls}[$__rate_interval]))",
                        "{{service}} {{span_name}}",
                    )
                ],
                unit="percentunit",
            ),
            8,
            9,
        ),
        (
            timeseries(
                "Duration p95 per operation",
                "95th percentile of span duration per operation. Dots are exemplars from Tempo "
                "(label traceID): click one to open its trace.",
                [
                    prom(
                        "histogram_quantile(0.95, sum by (le, service, span_name) "
                        f"(rate(traces_spanmetrics_latency_bucket{{{SPAN_SEL}}}"
                        "[$__rate_interval])))",
                        "{{service}} {{span_name}}",
                        exemplar=True,
                    )
                ],
                unit="s",
            ),
            8,
            9,
        ),
    ]
    return dashboard(
        "traces",
        "Traces",
        "Traces in Tempo: search for slow and failed requests, open a trace by id, the "
        "service graph and RED metrics per operation from Tempo's metrics generator.",
        [
            datasource_var("tempo", "tempo", "Tempo", "tempo"),
            datasource_var("prometheus", "prometheus", "Prometheus", "prometheus"),
            prom_query_var(
                "service", "Service", "label_values(traces_spanmetrics_calls_total, service)"
            ),
            custom_var(
                "span_kind",
                "Span kind",
                [
                    "SPAN_KIND_SERVER",
                    "SPAN_KIND_CLIENT",
                    "SPAN_KIND_INTERNAL",
                    "SPAN_KIND_PRODUCER",
                    "SPAN_KIND_CONSUMER",
                ],
                default="SPAN_KIND_SERVER",
                multi=True,
            ),
            custom_var(
                "slow",
                "Slow above",
                ["250ms", "500ms", "1s", "2s", "5s"],
                default="500ms",
                multi=False,
            ),
            textbox_var("trace_id", "Trace ID"),
        ],
        items,
    )


# --- Business ---------------------------------------------------------------------------------


def business_dashboard() -> Json:
    created = "loan_applications_created_total"
    tagged = "loan_documents_tagged_total"
    failed = "loan_tagger_failures_total"

    def in_range(metric: str) -> str:
        return f"(sum(increase({metric}[$__range])) or vector(0))"

    items: list[tuple[Json, int, int]] = [
        (row("In the selected time range"), 24, 1),
        (
            stat(
                "Applications created",
                "Loan applications created (v1 and v2 API) in the selected time range.",
                [prom(f"round({in_range(created)})", instant=True)],
                graph=False,
            ),
            6,
            4,
        ),
        (
            stat(
                "Documents tagged",
                "Uploaded documents the tagger classified in the selected time range.",
                [prom(f"round({in_range(tagged)})", instant=True)],
                graph=False,
            ),
            6,
            4,
        ),
        (
            stat(
                "Tagging failures",
                "Documents the tagger could not classify (timeout, unavailable, rejected, bad "
                "response) in the selected time range. They can be re-tagged later.",
                [prom(f"round({in_range(failed)})", instant=True)],
                graph=False,
                threshold_steps=thresholds(("green", None), ("orange", 1)),
            ),
            6,
            4,
        ),
        (
            stat(
                "Tagger failure ratio",
                "failures / (tagged + failures) over the selected time range.",
                [
                    prom(
                        f"{in_range(failed)} / clamp_min({in_range(tagged)} + {in_range(failed)}"
                        ", 1)",
                        instant=True,
                    )
                ],
                unit="percentunit",
                decimals=1,
                graph=False,
                threshold_steps=thresholds(("green", None), ("orange", 0.05), ("red", 0.1)),
            ),
            6,
            4,
        ),
        (row("Over time"), 24, 1),
        (
            timeseries(
                "Applications created per minute",
                "New loan applications per minute by product and API version.",
                [
                    prom(
                        f"sum by (product, api_version) (rate({created}[$__rate_interval])) * 60",
                        "{{product}} ({{api_version}})",
                    )
                ],
                stack=True,
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Documents tagged per minute",
                "Documents classified per minute by kind (id, fiscal) and the document type the "
                "tagger assigned.",
                [
                    prom(
                        f"sum by (kind, document_type) (rate({tagged}[$__rate_interval])) * 60",
                        "{{kind}}: {{document_type}}",
                    )
                ],
                stack=True,
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Tagging failures per minute by reason",
                "Why tagging failed: timeout (tagger too slow), unavailable (tagger down), "
                "rejected (tagger refused the document), bad_response (tagger answered "
                "nonsense).",
                [
                    prom(
                        f"sum by (reason) (rate({failed}[$__rate_interval])) * 60"
                        ' or label_replace(vector(0), "reason", "none", "", "")',
                        "{{reason}}",
                    )
                ],
                stack=True,
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Tagger failure ratio",
                "failures / (tagged + failures) over 5 minutes (recording rule "
                ":loan_tagger_failure:ratio_rate5m). Alert LoanTaggerHighFailureRatio fires "
                "above the dashed 10% line for 10 minutes.",
                [prom(":loan_tagger_failure:ratio_rate5m", "failure ratio")],
                unit="percentunit",
                maximum=1,
                threshold_steps=thresholds(("green", None), ("red", 0.1)),
            ),
            12,
            8,
        ),
    ]
    return dashboard(
        "business",
        "Business",
        "What the loan desk does: applications created, documents tagged, and how often "
        "tagging fails.",
        [datasource_var("prometheus", "prometheus", "Prometheus", "prometheus")],
        items,
        time_from="now-1h",
    )


# --- Telemetry pipeline health ----------------------------------------------------------------

# Every component metric below is declared, with its upstream source at the pinned tag, in
# tests/config/data/self_metrics.yaml; tests/config/test_self_metrics.py rejects any other name.
# Collector 0.159 internal metrics (collector core receiverhelper/exporterhelper/processorhelper
# metadata.yaml): named exactly like the instruments, `otelcol_receiver_accepted_spans`, with no
# `_total` and no unit suffix (the pull reader's without_type_suffix / without_units, see
# otel-collector/config.yaml). Loki 3.7: loki_distributor_{lines,bytes}_received_total
# (pkg/loghttp/push), loki_discarded_samples_total (pkg/validation). Tempo 3.0:
# tempo_distributor_{spans,bytes}_received_total (modules/distributor),
# tempo_discarded_spans_total (modules/overrides).


def zero_if_none(expr: str, label: str) -> str:
    """A zero series when the counter has no series yet (nothing failed so far)."""
    return f'{expr} or label_replace(vector(0), "{label}", "none", "", "")'


def pipeline_dashboard() -> Json:
    def signals(template: str, legend: str) -> list[Json]:
        return [
            prom(template.format(item=item), legend.format(signal=signal))
            for item, signal in (
                ("spans", "traces"),
                ("log_records", "logs"),
                ("metric_points", "metrics"),
            )
        ]

    items: list[tuple[Json, int, int]] = [
        (row("Scrape targets (Prometheus)"), 24, 1),
        (
            stat(
                "Targets up",
                "Every scrape job: UP when Prometheus scraped it last time, DOWN otherwise. "
                "Alerts ServiceTargetDown (api, tagger) and TargetDown (the rest).",
                [prom("min by (job) (up)", "{{job}}")],
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "DOWN", "color": "red", "index": 0},
                            "1": {"text": "UP", "color": "green", "index": 1},
                        },
                    }
                ],
                threshold_steps=thresholds(("red", None), ("green", 1)),
                graph=False,
            ),
            24,
            4,
        ),
        (
            timeseries(
                "Scrape duration by job",
                "How long each scrape takes. Close to the scrape timeout means the target is "
                "about to be marked down.",
                [prom("max by (job) (scrape_duration_seconds)", "{{job}}")],
                unit="s",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Samples scraped by job",
                "Series each target returns per scrape. A sudden climb is a cardinality "
                "explosion (a label with unbounded values).",
                [prom("sum by (job) (scrape_samples_scraped)", "{{job}}")],
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Rule evaluation failures",
                "Recording and alerting rules that failed to evaluate, per second, by rule "
                "group. Anything above zero means an alert may be blind.",
                [
                    prom(
                        zero_if_none(
                            "sum by (rule_group) (rate(prometheus_rule_evaluation_failures_total"
                            "[$__rate_interval]))",
                            "rule_group",
                        ),
                        "{{rule_group}}",
                    )
                ],
                unit="ops",
            ),
            8,
            8,
        ),
        (row("OpenTelemetry Collector: receivers"), 24, 1),
        (
            timeseries(
                "Accepted by the collector",
                "Spans, log records and metric points per second that the collector's receivers "
                "accepted into its pipelines.",
                signals(
                    "sum(rate(otelcol_receiver_accepted_{item}[$__rate_interval]))",
                    "{signal}",
                ),
                unit="ops",
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Refused or failed by the collector",
                "Items per second the receivers turned away (refused: memory_limiter back-"
                "pressure; failed: internal errors), per signal, over 5 minutes (recording "
                "rules). Alert OtelCollectorRefusingTelemetry.",
                [
                    prom(
                        "sum by (signal) (job_receiver:otelcol_receiver_refused:rate5m)",
                        "refused {{signal}}",
                    ),
                    prom(
                        "sum by (signal) (job_receiver:otelcol_receiver_failed:rate5m)",
                        "failed {{signal}}",
                    ),
                ],
                unit="ops",
            ),
            12,
            8,
        ),
        (row("OpenTelemetry Collector: processors and exporters"), 24, 1),
        (
            timeseries(
                "Sent by exporter",
                "Items per second each exporter delivered to its backend (Tempo, Loki), over 5 "
                "minutes (recording rule job_exporter:otelcol_exporter_sent:rate5m).",
                [
                    prom(
                        "sum by (exporter, signal) (job_exporter:otelcol_exporter_sent:rate5m)",
                        "{{exporter}} {{signal}}",
                    )
                ],
                unit="ops",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Send failures and drops",
                "send failed: the backend rejected the data after retries "
                "(OtelCollectorExporterSendFailures). dropped: the sending queue was full and "
                "the data is lost (OtelCollectorDroppingTelemetry).",
                [
                    prom(
                        "sum by (exporter, signal) "
                        "(job_exporter:otelcol_exporter_send_failed:rate5m)",
                        "send failed {{exporter}} {{signal}}",
                    ),
                    prom(
                        "sum by (exporter, signal) "
                        "(job_exporter:otelcol_exporter_enqueue_failed:rate5m)",
                        "dropped {{exporter}} {{signal}}",
                    ),
                ],
                unit="ops",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Exporter queue size and capacity",
                "Batches waiting in each exporter's sending queue, against the queue's "
                "capacity. A queue that fills means the backend is slow or down; when it is "
                "full, new data is dropped.",
                [
                    prom("sum by (exporter) (otelcol_exporter_queue_size)", "{{exporter}} size"),
                    prom(
                        "sum by (exporter) (otelcol_exporter_queue_capacity)",
                        "{{exporter}} capacity",
                    ),
                ],
                overrides=[
                    {
                        "matcher": {"id": "byRegexp", "options": ".* capacity"},
                        "properties": [
                            {
                                "id": "custom.lineStyle",
                                "value": {"fill": "dash", "dash": [10, 10]},
                            }
                        ],
                    }
                ],
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Processor items in and out",
                "Items per second entering and leaving each processor. 'out' below 'in' means "
                "the processor drops or merges items (filtering, batching).",
                [
                    prom(
                        "sum by (processor) (rate(otelcol_processor_incoming_items"
                        "[$__rate_interval]))",
                        "{{processor}} in",
                    ),
                    prom(
                        "sum by (processor) (rate(otelcol_processor_outgoing_items"
                        "[$__rate_interval]))",
                        "{{processor}} out",
                    ),
                ],
                unit="ops",
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Exporter queue usage",
                "Queue size / capacity per exporter (recording rule "
                "job_exporter:otelcol_exporter_queue_usage:ratio). Alert above the dashed 80%.",
                [prom("job_exporter:otelcol_exporter_queue_usage:ratio", "{{exporter}}")],
                unit="percentunit",
                maximum=1,
                threshold_steps=thresholds(("green", None), ("red", 0.8)),
            ),
            12,
            8,
        ),
        (row("Loki and Tempo ingestion"), 24, 1),
        (
            timeseries(
                "Loki: log lines received",
                "Log lines per second Loki's distributor accepted, per tenant.",
                [
                    prom(
                        "sum by (tenant) (rate(loki_distributor_lines_received_total"
                        "[$__rate_interval]))",
                        "lines {{tenant}}",
                    )
                ],
                unit="ops",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Loki: bytes received",
                "Uncompressed log bytes per second Loki's distributor received.",
                [
                    prom(
                        "sum by (tenant) (rate(loki_distributor_bytes_received_total"
                        "[$__rate_interval]))",
                        "{{tenant}}",
                    )
                ],
                unit="Bps",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Loki: discarded log lines",
                "Lines Loki refused, by reason (rate limit, too long, too old, structured "
                "metadata too large...). Should stay at zero.",
                [
                    prom(
                        zero_if_none(
                            "sum by (reason) (rate(loki_discarded_samples_total"
                            "[$__rate_interval]))",
                            "reason",
                        ),
                        "{{reason}}",
                    )
                ],
                unit="ops",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Tempo: spans received",
                "Spans per second Tempo's distributor received, per tenant.",
                [
                    prom(
                        "sum by (tenant) (rate(tempo_distributor_spans_received_total"
                        "[$__rate_interval]))",
                        "spans {{tenant}}",
                    )
                ],
                unit="ops",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Tempo: bytes received",
                "Trace bytes per second Tempo's distributor received.",
                [
                    prom(
                        "sum by (tenant) (rate(tempo_distributor_bytes_received_total"
                        "[$__rate_interval]))",
                        "{{tenant}}",
                    )
                ],
                unit="Bps",
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Tempo: discarded spans",
                "Spans Tempo refused, by reason (rate limited, trace too large, live traces "
                "exceeded...). Should stay at zero.",
                [
                    prom(
                        zero_if_none(
                            "sum by (reason) (rate(tempo_discarded_spans_total[$__rate_interval]))",
                            "reason",
                        ),
                        "{{reason}}",
                    )
                ],
                unit="ops",
            ),
            8,
            8,
        ),
    ]
    return dashboard(
        "pipeline",
        "Telemetry pipeline health",
        "The pipeline that watches the app, watched: Prometheus scrape health, the "
        "OpenTelemetry Collector's receivers, processors and exporters, and Loki and Tempo "
        "ingestion.",
        [datasource_var("prometheus", "prometheus", "Prometheus", "prometheus")],
        [*items, *alerting_pipeline_items()],
    )


# --- Alerting: Alertmanager and the alert receiver ---------------------------------------------
# Panels appended to the Service overview, Logs and Telemetry pipeline dashboards (at the end, so
# the panel ids that alert annotations link to stay where they are). docs/alerting.md.

# Prometheus v3.14 notifier/metric.go (namespace prometheus, subsystem notifications):
# prometheus_notifications_{sent,errors}_total{alertmanager} (no series before an Alertmanager is
# discovered), prometheus_notifications_dropped_total, _queue_length, _queue_capacity,
# prometheus_notifications_alertmanagers_discovered. Alertmanager v0.35 notify/metrics.go:
# alertmanager_notifications_total{integration}, alertmanager_notifications_failed_total
# {integration, reason}, alertmanager_notification_requests_failed_total{integration} (each
# failed attempt, retries included). The receiver: alert_receiver_alerts_total{status, severity}.
RECEIVER_LOGS = '{service_name=~"$service"} | alert_status=~"firing|resolved"'


def alert_list_items() -> list[tuple[Json, int, int]]:
    """Service overview: the alert rules firing or pending, from Prometheus (alertlist panel,
    options of grafana/grafana public/app/plugins/panel/alertlist/module.tsx and types.ts)."""
    panel: Json = {
        "type": "alertlist",
        "title": "Alerts firing and pending",
        "description": "Every alert rule of the stack that is firing or pending (Prometheus "
        "evaluates them; Alertmanager routes them to the alert receiver, whose notifications "
        "are on the Logs dashboard). Most important first. Not filtered by the service "
        "picker: the pipeline's own alerts are here too.",
        # The panel reads alert rules, not a query: the datasource is only the dashboard's
        # convention; options.datasource (a name) stays unset, so every rules source shows.
        "datasource": PROM,
        "options": {
            "viewMode": "list",
            "groupMode": "default",
            "groupBy": [],
            "maxItems": 20,
            "sortOrder": 3,  # SortOrder.Importance
            "dashboardAlerts": False,
            "alertName": "",
            "alertInstanceLabelFilter": "",
            "datasource": None,
            "folder": None,
            "showInactiveAlerts": False,
            "stateFilter": {
                "firing": True,
                "pending": True,
                "recovering": True,
                "noData": False,
                "normal": False,
                "error": True,
            },
        },
        "links": [
            {
                "title": "Alert groups and silences in Alertmanager",
                "url": "/alerting/groups?alertmanager=Alertmanager",
            }
        ],
    }
    return [(row("Alerts"), 24, 1), (panel, 24, 7)]


def alert_notification_items() -> list[tuple[Json, int, int]]:
    """Logs: the alert receiver's lines (app/alert_receiver/notifications.py names the fields;
    Loki keeps them as structured metadata)."""
    runbook = "${__value.raw}"
    return [
        (row("Alert notifications"), 24, 1),
        (
            timeseries(
                "Alert notifications by status",
                "Alerts Alertmanager notified, per interval, firing and resolved (one log line "
                "of the alert receiver per alert; choose alert-receiver in the service picker, "
                "or All).",
                [
                    loki(
                        f"sum by (alert_status) (count_over_time({RECEIVER_LOGS} [$__auto]))",
                        "{{alert_status}}",
                    )
                ],
                datasource=LOKI,
                stack=True,
                bars=True,
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": name},
                        "properties": [
                            {"id": "color", "value": {"mode": "fixed", "fixedColor": color}}
                        ],
                    }
                    for name, color in (("firing", "red"), ("resolved", "green"))
                ],
            ),
            8,
            8,
        ),
        (
            table(
                "Alert notifications (click the runbook or the dashboard)",
                "The latest notifications, one line per alert: firing or resolved, the alert, "
                "its summary, and links to its runbook and to the dashboard panel that shows "
                "it (the alert's runbook_url and dashboard_url annotations). Expanding a line "
                "in Explore shows the same two links (the Loki datasource's derived fields).",
                [loki(RECEIVER_LOGS, max_lines=100)],
                datasource=LOKI,
                transformations=[
                    {
                        "id": "extractFields",
                        "options": {"source": "labels", "format": "auto", "replace": False},
                    },
                    {
                        "id": "organize",
                        "options": {
                            "includeByName": {
                                "Time": True,
                                "alert_status": True,
                                "alertname": True,
                                "severity": True,
                                "alert_summary": True,
                                "runbook_url": True,
                                "dashboard_url": True,
                            },
                            "indexByName": {
                                "Time": 0,
                                "alert_status": 1,
                                "alertname": 2,
                                "severity": 3,
                                "alert_summary": 4,
                                "runbook_url": 5,
                                "dashboard_url": 6,
                            },
                            "renameByName": {
                                "alert_status": "Status",
                                "alertname": "Alert",
                                "severity": "Severity",
                                "alert_summary": "Summary",
                            },
                        },
                    },
                ],
                overrides=[
                    link_override("runbook_url", "Open the runbook", runbook),
                    link_override("dashboard_url", "Open the dashboard", runbook),
                ],
            ),
            16,
            8,
        ),
    ]


def alerting_pipeline_items() -> list[tuple[Json, int, int]]:
    """Telemetry pipeline: alerts on their way out. With Alertmanager down, Prometheus keeps
    evaluating and its errors and drops climb; with the receiver failing, Alertmanager's failed
    requests (each retry) and failed notifications climb."""
    return [
        (row("Alerting: Prometheus -> Alertmanager -> alert receiver"), 24, 1),
        (
            timeseries(
                "Alerts Prometheus sends to Alertmanager",
                "Alerts per second Prometheus sent to Alertmanager (every attempt), the ones "
                "that failed (errors: Alertmanager down or refusing) and the ones dropped (no "
                "Alertmanager took them, or the queue was full). Rules keep being evaluated "
                "whatever happens here.",
                [
                    prom(
                        "sum(rate(prometheus_notifications_sent_total[$__rate_interval])) "
                        "or vector(0)",
                        "sent",
                    ),
                    prom(
                        "sum(rate(prometheus_notifications_errors_total[$__rate_interval])) "
                        "or vector(0)",
                        "errors",
                    ),
                    prom(
                        "sum(rate(prometheus_notifications_dropped_total[$__rate_interval]))",
                        "dropped",
                    ),
                ],
                unit="ops",
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": name},
                        "properties": [
                            {"id": "color", "value": {"mode": "fixed", "fixedColor": color}}
                        ],
                    }
                    for name, color in (("sent", "green"), ("errors", "orange"), ("dropped", "red"))
                ],
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Prometheus notification queue",
                "Alerts waiting in Prometheus to be sent, against the queue's capacity. It "
                "fills while no Alertmanager answers; when it is full, alerts are dropped.",
                [
                    prom("sum(prometheus_notifications_queue_length)", "queued"),
                    prom("sum(prometheus_notifications_queue_capacity)", "capacity"),
                ],
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": "capacity"},
                        "properties": [
                            {
                                "id": "custom.lineStyle",
                                "value": {"fill": "dash", "dash": [10, 10]},
                            }
                        ],
                    }
                ],
            ),
            8,
            8,
        ),
        (
            stat(
                "Alertmanagers discovered",
                "Alertmanagers Prometheus knows to send to (its alerting block). 0 means "
                "alerts are evaluated and go nowhere.",
                [prom("sum(prometheus_notifications_alertmanagers_discovered)")],
                threshold_steps=thresholds(("red", None), ("green", 1)),
                graph=False,
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Notifications Alertmanager sends",
                "Notifications per second Alertmanager attempted, the failed requests (every "
                "attempt, retries included: a receiver answering 5xx is retried until the "
                "group's interval runs out) and the notifications that failed for good, by "
                "reason. No line at all: Alertmanager is down (see Targets up).",
                [
                    prom(
                        "sum(rate(alertmanager_notifications_total[$__rate_interval]))",
                        "attempted",
                    ),
                    prom(
                        "sum(rate(alertmanager_notification_requests_failed_total"
                        "[$__rate_interval]))",
                        "failed requests",
                    ),
                    prom(
                        "sum by (reason) (rate(alertmanager_notifications_failed_total"
                        "[$__rate_interval]))",
                        "failed: {{reason}}",
                    ),
                ],
                unit="ops",
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Alerts the receiver logged",
                "Alerts per second the alert receiver turned into log lines, firing and "
                "resolved (alert_receiver_alerts_total). Below what Alertmanager attempted: the "
                "receiver refused or failed them.",
                [
                    prom(
                        zero_if_none(
                            "sum by (status) (rate(alert_receiver_alerts_total[$__rate_interval]))",
                            "status",
                        ),
                        "{{status}}",
                    )
                ],
                unit="ops",
            ),
            12,
            8,
        ),
    ]


BUILDERS = {
    "service-overview.json": service_overview,
    "logs.json": logs_dashboard,
    "traces.json": traces_dashboard,
    "business.json": business_dashboard,
    "telemetry-pipeline.json": pipeline_dashboard,
}


def render(board: Json) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: render(builder()) for name, builder in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON files are stale")
    args = parser.parse_args(argv)
    stale = []
    for name, text in build_all().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale, run scripts/build_dashboards.py: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

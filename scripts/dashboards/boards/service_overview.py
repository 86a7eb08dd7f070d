"""Service overview: RED of the HTTP services, compared by version, with trainer scenarios.

Read from the http_request_duration_seconds histogram and the recording rules of
prometheus/rules/http.yml (prometheus/rules/http_sources.yml feeds them from OpenTelemetry SDK
metrics and span metrics too; docs/dashboards.md).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.board import Annotation, Json, dashboard
from dashboards.boards.alerting import alert_list_items
from dashboards.fields import Thresholds, green_from, red_from, transform, unit_override
from dashboards.layout import Heading, Item, line
from dashboards.panels import heatmap, stat, table, timeseries
from dashboards.queries import PROM, prom, rate_sum, share
from dashboards.variables import prom_query_var, prometheus_picker

# The middleware never counts these; filtering them again keeps the panels right for teams whose
# instrumentation does.
NOT_INFRA = 'route!~"/metrics|/health/.*"'
# The pickers alone: the recording rules drop the infrastructure routes themselves.
ROUTE_SEL = 'app_name=~"$service", route=~"$route"'
HTTP_SEL = f"{ROUTE_SEL}, {NOT_INFRA}"
SLO_SECONDS = "0.5"
SERVER_ERRORS = 'status_code=~"5.."'

# The version is not a label of the HTTP metrics (it would double every histogram series during a
# rollout): it is joined in per instance from app_info{version}, which each process serves
# (docs/architecture.md). max by () keeps the join one-to-one even if an instance briefly shows
# two app_info series.
VERSION_JOIN = (
    "on (job, instance) group_left (version) max by (job, instance, version) "
    '(app_info{app_name=~"$service"})'
)

# Fields of a Prometheus annotation that the SDK's AnnotationQuery has no setter for (Grafana's
# public/app/plugins/datasource/prometheus annotations: step, titleFormat, textFormat, tagKeys,
# useValueForTime), added to the built JSON.
SCENARIO_ANNOTATION_FIELDS: Json = {
    "step": "15s",
    "titleFormat": "scenario {{scenario}}",
    "textFormat": "{{app_name}} {{instance}}",
    "tagKeys": "scenario,app_name,instance",
    "useValueForTime": False,
}


def _scenario_annotation() -> Annotation:
    """Trainer mode (docs/tour.md): a band on every panel while a scenario is switched on."""
    return (
        dash.AnnotationQuery()
        .name("Trainer scenarios")
        .datasource(PROM)
        .enable(True)
        .hide(False)
        .icon_color("orange")
        .expr(
            "max by (scenario, app_name, instance) "
            '(trainer_scenario_active{app_name=~"$service"}) > 0'
        )
    )


def _rate(metric: str, extra: str = "") -> str:
    """The rate of one series of the request histogram (`bucket`, `count`), selected."""
    sel = HTTP_SEL + (f", {extra}" if extra else "")
    return f"rate(http_request_duration_seconds_{metric}{{{sel}}}[$__rate_interval])"


def _by_version(extra: str = "") -> str:
    """Requests per second by service and version (the version joined in from app_info)."""
    return f"sum by (app_name, version) ({_rate('count', extra)} * {VERSION_JOIN})"


def _quantile(q: str) -> str:
    return f"histogram_quantile({q}, sum by (le) ({_rate('bucket')}))"


def _objective() -> Thresholds:
    """The latency objective, drawn as a dashed red line."""
    return red_from(float(SLO_SECONDS))


def _golden_signals() -> list[Item]:
    return [
        Heading("Golden signals"),
        *line(
            stat(
                "Request rate",
                "Requests per second answered by the selected services and routes. "
                "/metrics and the health probes are not counted.",
                [prom(f"sum({_rate('count')})")],
                unit="reqps",
            ),
            stat(
                "Error ratio (5xx)",
                "Share of requests answered with a 5xx status. 4xx (bad input, missing "
                "token) is the client's doing and is not counted. Alert HttpHighErrorRatio "
                "fires above 5% for 5 minutes.",
                [
                    prom(
                        f"(sum({_rate('count', SERVER_ERRORS)}) or vector(0))"
                        f" / sum({_rate('count')})"
                    )
                ],
                unit="percentunit",
                decimals=2,
                threshold_steps=red_from(0.05, orange_from=0.01),
            ),
            stat(
                "Latency p99",
                "99% of requests finished faster than this. The objective is 99% within "
                f"{SLO_SECONDS} s.",
                [prom(_quantile("0.99"))],
                unit="s",
                threshold_steps=_objective(),
            ),
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
                threshold_steps=green_from(0.99),
            ),
            stat(
                "Latency budget burn rate (1h)",
                "How fast the last hour spends the latency error budget: 1 spends it exactly "
                "in 30 days, 14.4 in about 2 days (fast-burn alert). From the recording rule "
                "app:http_request_slow:ratio_rate1h divided by the 1% budget.",
                [prom('max(app:http_request_slow:ratio_rate1h{app_name=~"$service"}) / 0.01')],
                unit="x",
                decimals=1,
                threshold_steps=red_from(6, orange_from=1),
            ),
            stat(
                "Requests in progress",
                "Requests being handled right now (gauge). A number that keeps growing means "
                "requests pile up: a slow dependency or a blocked event loop.",
                [prom(f"sum(http_requests_in_progress{{{ROUTE_SEL}}})")],
                unit="short",
            ),
            height=4,
        ),
    ]


def _versions() -> list[Item]:
    return [
        Heading("Versions (canary)"),
        *line(
            timeseries(
                "Request rate by version",
                "Requests per second per service version (service.version; app_info{version} "
                "joined per instance). During a canary release the new version takes its "
                "share of the traffic here.",
                [
                    prom(
                        _by_version(),
                        "{{app_name}} {{version}}",
                    )
                ],
                unit="reqps",
            ),
            timeseries(
                "Error ratio (5xx) by version",
                "Share of each version's requests answered with 5xx. A canary whose line "
                "leaves the others' is a bad release: roll it back before it takes more traffic.",
                [
                    prom(
                        share(_by_version(SERVER_ERRORS), _by_version()),
                        "{{app_name}} {{version}}",
                    )
                ],
                unit="percentunit",
                threshold_steps=red_from(0.05),
            ),
            timeseries(
                "Latency p99 by version",
                "99th percentile of request duration per version, from the histogram buckets "
                f"joined with app_info. The dashed line is the {SLO_SECONDS} s objective.",
                [
                    prom(
                        "histogram_quantile(0.99, sum by (app_name, version, le) "
                        f"({_rate('bucket')} * {VERSION_JOIN}))",
                        "{{app_name}} {{version}}",
                    )
                ],
                unit="s",
                threshold_steps=_objective(),
            ),
            height=8,
        ),
    ]


def _traffic() -> list[Item]:
    return [
        Heading("Traffic"),
        *line(
            timeseries(
                "Request rate by route",
                "Requests per second per service and route template (never the raw path, so "
                'ids do not explode the series). route="unmatched" counts requests no route '
                "matched (404s from scanners, typos).",
                [
                    prom(
                        f"sum by (app_name, route) ({_rate('count')})",
                        "{{app_name}} {{route}}",
                    )
                ],
                unit="reqps",
            ),
            timeseries(
                "Responses by status code",
                "Requests per second by HTTP status code, stacked. 2xx is success, 4xx the "
                "client's mistake, 5xx a server failure.",
                [prom(f"sum by (status_code) ({_rate('count')})", "{{status_code}}")],
                unit="reqps",
                stack=True,
            ),
            timeseries(
                "Requests in progress by route",
                "Concurrent requests per route. Steps up and down with load; a plateau that "
                "does not come down is a stuck request.",
                [
                    prom(
                        f"sum by (app_name, route) (http_requests_in_progress{{{ROUTE_SEL}}})",
                        "{{app_name}} {{route}}",
                    )
                ],
            ),
            height=8,
        ),
    ]


def _errors() -> list[Item]:
    return [
        Heading("Errors"),
        *line(
            timeseries(
                "Error ratio (5xx) by route",
                "Share of each route's requests answered with 5xx, over 5 minutes (recording "
                "rule app_route:http_request_error:ratio_rate5m from prometheus/rules/http.yml). "
                "The dashed line is the 5% alert threshold.",
                [
                    prom(
                        f"app_route:http_request_error:ratio_rate5m{{{ROUTE_SEL}}}",
                        "{{app_name}} {{route}}",
                    )
                ],
                unit="percentunit",
                threshold_steps=red_from(0.05),
            ),
            timeseries(
                "Unhandled exceptions by type",
                "Exceptions that escaped a route handler, per second, by exception class. Each "
                "one is also a 5xx response and an error span in the trace.",
                [
                    prom(
                        rate_sum(
                            f"http_request_exceptions_total{{{ROUTE_SEL}}}",
                            "app_name",
                            "exception_type",
                        ),
                        "{{app_name}} {{exception_type}}",
                    )
                ],
                unit="reqps",
            ),
            height=8,
        ),
    ]


def _latency() -> list[Item]:
    return [
        Heading("Latency"),
        *line(
            timeseries(
                "Latency p50 / p90 / p99 (dots are exemplars: click for the trace)",
                "Percentiles of request duration over the selected services and routes, "
                "estimated from the histogram buckets. The dots are exemplars: sampled requests "
                "that carry their trace_id; click one and choose the Tempo link to open that "
                "request's trace.",
                [
                    prom(_quantile("0.50"), "p50", exemplar=True),
                    prom(_quantile("0.90"), "p90"),
                    prom(_quantile("0.99"), "p99"),
                ],
                unit="s",
                threshold_steps=_objective(),
            ),
            timeseries(
                "Latency p99 by route",
                "99th percentile per route over 5 minutes (recording rule "
                "app_route:http_request_duration_seconds:p99_rate5m). The dashed line is the "
                f"{SLO_SECONDS} s objective.",
                [
                    prom(
                        f"app_route:http_request_duration_seconds:p99_rate5m{{{ROUTE_SEL}}}",
                        "{{app_name}} {{route}}",
                    )
                ],
                unit="s",
                threshold_steps=_objective(),
            ),
            height=9,
        ),
        *line(
            heatmap(
                "Latency distribution",
                "How many requests fell into each duration bucket over time. "
                "A second band appearing higher up is a new slow path.",
                [
                    prom(
                        f"sum by (le) (increase(http_request_duration_seconds_bucket{{{HTTP_SEL}}}"
                        "[$__rate_interval]))",
                        "{{le}}",
                        heatmap=True,
                    )
                ],
            ),
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
                threshold_steps=red_from(14.4, orange_from=6),
            ),
            height=9,
        ),
    ]


def _routes() -> list[Item]:
    return [
        Heading("Routes"),
        *line(
            table(
                "Routes (last 5 minutes)",
                "One line per route: request rate, 5xx ratio and latency percentiles over the "
                "last 5 minutes, from the recording rules in prometheus/rules/http.yml. Sort by "
                "any column.",
                [
                    prom(
                        f"app_route:http_requests:rate5m{{{ROUTE_SEL}}}", instant=True, table=True
                    ),
                    prom(
                        f"app_route:http_request_error:ratio_rate5m{{{ROUTE_SEL}}}",
                        instant=True,
                        table=True,
                    ),
                    *(
                        prom(
                            f"app_route:http_request_duration_seconds:{q}_rate5m{{{ROUTE_SEL}}}",
                            instant=True,
                            table=True,
                        )
                        for q in ("p50", "p90", "p99")
                    ),
                ],
                transformations=[
                    transform("merge"),
                    transform(
                        "organize",
                        {
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
                    ),
                ],
                overrides=[
                    unit_override("Requests/s", "reqps"),
                    unit_override("5xx ratio", "percentunit"),
                    unit_override("p50", "s"),
                    unit_override("p90", "s"),
                    unit_override("p99", "s"),
                ],
            ),
            height=8,
        ),
    ]


def service_overview() -> Json:
    board = dashboard(
        "service",
        "Service overview",
        "RED view of the HTTP services (request rate, errors, duration) from the "
        "http_request_duration_seconds histogram, compared by version (canary), with trainer "
        "scenarios shown as annotations.",
        [
            prometheus_picker(),
            prom_query_var(
                "service", "Service", "label_values(http_request_duration_seconds_count, app_name)"
            ),
            prom_query_var(
                "route",
                "Route",
                'label_values(http_request_duration_seconds_count{app_name=~"$service"}, route)',
            ),
        ],
        [
            *_golden_signals(),
            *_versions(),
            *_traffic(),
            *_errors(),
            *_latency(),
            *_routes(),
            *alert_list_items(),
        ],
        refresh="10s",
        annotations=[_scenario_annotation()],
    )
    board["annotations"]["list"][1].update(SCENARIO_ANNOTATION_FIELDS)
    return board

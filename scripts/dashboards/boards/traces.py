"""Traces: search Tempo, open a trace by id, the service graph, RED metrics per operation.

Tempo 3.0 metrics generator (grafana/tempo modules/generator/processor/): span metrics
traces_spanmetrics_calls_total and traces_spanmetrics_latency_{bucket,sum,count} with labels
service, span_name, span_kind (SPAN_KIND_SERVER, ...), status_code (STATUS_CODE_OK,
STATUS_CODE_ERROR, STATUS_CODE_UNSET); service graph traces_service_graph_request_total,
traces_service_graph_request_failed_total with labels client, server, connection_type.
"""

from __future__ import annotations

from dashboards.board import Json, dashboard
from dashboards.layout import Heading, Item, line
from dashboards.panels import generic_panel, node_graph, table, timeseries
from dashboards.queries import TEMPO, prom, rate_sum, service_map, share, trace_by_id, traceql
from dashboards.variables import (
    custom_var,
    datasource_var,
    prom_query_var,
    prometheus_picker,
    textbox_var,
)

SPAN_SEL = 'service=~"$service", span_kind=~"$span_kind"'
CALLS = f"traces_spanmetrics_calls_total{{{SPAN_SEL}}}"
FAILED_CALLS = f'traces_spanmetrics_calls_total{{{SPAN_SEL}, status_code="STATUS_CODE_ERROR"}}'


def _find_traces() -> list[Item]:
    return [
        Heading("Find traces"),
        *line(
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
            table(
                "Failed requests",
                "Traces with a span whose status is error (TraceQL). Click a trace id to open "
                "it; the failing span is marked red.",
                [traceql('{ resource.service.name =~ "${service:regex}" && status = error }')],
                datasource=TEMPO,
            ),
            height=9,
        ),
        *line(
            generic_panel(
                "traces",
                "Trace",
                "The trace whose id is in the Trace ID box at the top. The "
                "Logs dashboard's recent errors link here with the id filled in.",
                [trace_by_id("$trace_id")],
                TEMPO,
            ),
            height=14,
        ),
    ]


def _service_graph() -> list[Item]:
    return [
        Heading("Service graph"),
        *line(
            node_graph(
                "Service graph",
                "Which service calls which, built by Tempo's metrics generator "
                "from client/server span pairs (traces_service_graph_* in Prometheus). Node "
                "colour shows the share of failed requests.",
                [service_map()],
            ),
            timeseries(
                "Requests between services",
                "Requests per second on each edge of the service graph (client -> server).",
                [
                    prom(
                        rate_sum("traces_service_graph_request_total", "client", "server"),
                        "{{client}} -> {{server}}",
                    ),
                    prom(
                        rate_sum("traces_service_graph_request_failed_total", "client", "server"),
                        "failed {{client}} -> {{server}}",
                    ),
                ],
                unit="reqps",
            ),
            height=12,
        ),
    ]


def _span_metrics() -> list[Item]:
    return [
        Heading("Span metrics per operation (Tempo metrics generator)"),
        *line(
            timeseries(
                "Rate per operation",
                "Spans per second per service and span name, from Tempo's span metrics. The "
                "Span kind picker chooses server spans (requests served), client spans "
                "(calls made), and so on.",
                [
                    prom(
                        rate_sum(CALLS, "service", "span_name"),
                        "{{service}} {{span_name}}",
                    )
                ],
                unit="ops",
            ),
            timeseries(
                "Error ratio per operation",
                "Share of each operation's spans with status error.",
                [
                    prom(
                        share(
                            rate_sum(FAILED_CALLS, "service", "span_name"),
                            rate_sum(CALLS, "service", "span_name"),
                        ),
                        "{{service}} {{span_name}}",
                    )
                ],
                unit="percentunit",
            ),
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
            height=9,
        ),
    ]


def traces_dashboard() -> Json:
    return dashboard(
        "traces",
        "Traces",
        "Traces in Tempo: search for slow and failed requests, open a trace by id, the "
        "service graph and RED metrics per operation from Tempo's metrics generator.",
        [
            datasource_var("tempo", "tempo", "Tempo", "tempo"),
            prometheus_picker(),
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
        [*_find_traces(), *_service_graph(), *_span_metrics()],
    )

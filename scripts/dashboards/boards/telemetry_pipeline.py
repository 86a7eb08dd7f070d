"""Telemetry pipeline health: Prometheus scrapes, the OpenTelemetry Collector, Loki, Tempo.

Every component metric below is declared, with its upstream source at the pinned tag, in
tests/config/data/self_metrics.yaml; tests/config/test_self_metrics.py rejects any other name.
Collector 0.159 internal metrics (collector core receiverhelper/exporterhelper/processorhelper
metadata.yaml): named exactly like the instruments, `otelcol_receiver_accepted_spans`, with no
`_total` and no unit suffix (the pull reader's without_type_suffix / without_units, see
otel-collector/config.yaml). Loki 3.7: loki_distributor_{lines,bytes}_received_total
(pkg/loghttp/push), loki_discarded_samples_total (pkg/validation). Tempo 3.0:
tempo_distributor_{spans,bytes}_received_total (modules/distributor),
tempo_discarded_spans_total (modules/overrides).
"""

from __future__ import annotations

from dashboards.board import Json, dashboard
from dashboards.boards.alerting import alerting_pipeline_items
from dashboards.fields import DASHED_LINE, by_regexp, green_from, red_from, value_map
from dashboards.layout import Heading, Item, line
from dashboards.panels import stat, timeseries
from dashboards.queries import Query, prom, rate_sum, zero_if_none
from dashboards.variables import prometheus_picker

# The collector's item names per signal (otelcol_receiver_accepted_<item>, ...).
SIGNAL_ITEMS = (("spans", "traces"), ("log_records", "logs"), ("metric_points", "metrics"))


def _per_signal(template: str, legend: str) -> list[Query]:
    """One query per signal: `{item}` in the template and `{signal}` in the legend filled in."""
    return [
        prom(template.format(item=item), legend.format(signal=signal))
        for item, signal in SIGNAL_ITEMS
    ]


def _scrape_targets() -> list[Item]:
    return [
        Heading("Scrape targets (Prometheus)"),
        *line(
            stat(
                "Targets up",
                "Every scrape job: UP when Prometheus scraped it last time, DOWN otherwise. "
                "Alerts ServiceTargetDown (api, tagger) and TargetDown (the rest).",
                [prom("min by (job) (up)", "{{job}}")],
                mappings=[value_map({"0": ("DOWN", "red"), "1": ("UP", "green")})],
                threshold_steps=green_from(1),
                graph=False,
            ),
            height=4,
        ),
        *line(
            timeseries(
                "Scrape duration by job",
                "How long each scrape takes. Close to the scrape timeout means the target is "
                "about to be marked down.",
                [prom("max by (job) (scrape_duration_seconds)", "{{job}}")],
                unit="s",
            ),
            timeseries(
                "Samples scraped by job",
                "Series each target returns per scrape. A sudden climb is a cardinality "
                "explosion (a label with unbounded values).",
                [prom("sum by (job) (scrape_samples_scraped)", "{{job}}")],
            ),
            timeseries(
                "Rule evaluation failures",
                "Recording and alerting rules that failed to evaluate, per second, by rule "
                "group. Anything above zero means an alert may be blind.",
                [
                    prom(
                        zero_if_none(
                            rate_sum("prometheus_rule_evaluation_failures_total", "rule_group"),
                            "rule_group",
                        ),
                        "{{rule_group}}",
                    )
                ],
                unit="ops",
            ),
            height=8,
        ),
    ]


def _receivers() -> list[Item]:
    return [
        Heading("OpenTelemetry Collector: receivers"),
        *line(
            timeseries(
                "Accepted by the collector",
                "Spans, log records and metric points per second that the collector's receivers "
                "accepted into its pipelines.",
                _per_signal(
                    "sum(rate(otelcol_receiver_accepted_{item}[$__rate_interval]))",
                    "{signal}",
                ),
                unit="ops",
            ),
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
            height=8,
        ),
    ]


def _processors_and_exporters() -> list[Item]:
    return [
        Heading("OpenTelemetry Collector: processors and exporters"),
        *line(
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
                overrides=[by_regexp(".* capacity", DASHED_LINE)],
            ),
            height=8,
        ),
        *line(
            timeseries(
                "Processor items in and out",
                "Items per second entering and leaving each processor. 'out' below 'in' means "
                "the processor drops or merges items (filtering, batching).",
                [
                    prom(
                        rate_sum("otelcol_processor_incoming_items", "processor"),
                        "{{processor}} in",
                    ),
                    prom(
                        rate_sum("otelcol_processor_outgoing_items", "processor"),
                        "{{processor}} out",
                    ),
                ],
                unit="ops",
            ),
            timeseries(
                "Exporter queue usage",
                "Queue size / capacity per exporter (recording rule "
                "job_exporter:otelcol_exporter_queue_usage:ratio). Alert above the dashed 80%.",
                [prom("job_exporter:otelcol_exporter_queue_usage:ratio", "{{exporter}}")],
                unit="percentunit",
                maximum=1,
                threshold_steps=red_from(0.8),
            ),
            height=8,
        ),
    ]


def _ingestion() -> list[Item]:
    return [Heading("Loki and Tempo ingestion"), *_loki_ingestion(), *_tempo_ingestion()]


def _loki_ingestion() -> list[Item]:
    """Lines, bytes and discarded lines of Loki's distributor."""
    return line(
        timeseries(
            "Loki: log lines received",
            "Log lines per second Loki's distributor accepted, per tenant.",
            [
                prom(
                    rate_sum("loki_distributor_lines_received_total", "tenant"),
                    "lines {{tenant}}",
                )
            ],
            unit="ops",
        ),
        timeseries(
            "Loki: bytes received",
            "Uncompressed log bytes per second Loki's distributor received.",
            [
                prom(
                    rate_sum("loki_distributor_bytes_received_total", "tenant"),
                    "{{tenant}}",
                )
            ],
            unit="Bps",
        ),
        timeseries(
            "Loki: discarded log lines",
            "Lines Loki refused, by reason (rate limit, too long, too old, structured "
            "metadata too large...). Should stay at zero.",
            [
                prom(
                    zero_if_none(
                        rate_sum("loki_discarded_samples_total", "reason"),
                        "reason",
                    ),
                    "{{reason}}",
                )
            ],
            unit="ops",
        ),
        height=8,
    )


def _tempo_ingestion() -> list[Item]:
    """Spans, bytes and discarded spans of Tempo's distributor."""
    return line(
        timeseries(
            "Tempo: spans received",
            "Spans per second Tempo's distributor received, per tenant.",
            [
                prom(
                    rate_sum("tempo_distributor_spans_received_total", "tenant"),
                    "spans {{tenant}}",
                )
            ],
            unit="ops",
        ),
        timeseries(
            "Tempo: bytes received",
            "Trace bytes per second Tempo's distributor received.",
            [
                prom(
                    rate_sum("tempo_distributor_bytes_received_total", "tenant"),
                    "{{tenant}}",
                )
            ],
            unit="Bps",
        ),
        timeseries(
            "Tempo: discarded spans",
            "Spans Tempo refused, by reason (rate limited, trace too large, live traces "
            "exceeded...). Should stay at zero.",
            [
                prom(
                    zero_if_none(
                        rate_sum("tempo_discarded_spans_total", "reason"),
                        "reason",
                    ),
                    "{{reason}}",
                )
            ],
            unit="ops",
        ),
        height=8,
    )


def pipeline_dashboard() -> Json:
    return dashboard(
        "pipeline",
        "Telemetry pipeline health",
        "The pipeline that watches the app, watched: Prometheus scrape health, the "
        "OpenTelemetry Collector's receivers, processors and exporters, and Loki and Tempo "
        "ingestion.",
        [prometheus_picker()],
        [
            *_scrape_targets(),
            *_receivers(),
            *_processors_and_exporters(),
            *_ingestion(),
            *alerting_pipeline_items(),
        ],
    )

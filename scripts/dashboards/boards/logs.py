"""Logs: application logs in Loki (OTLP), volume, recent errors linked to their traces, the stream.

Loki 3 stores OTLP logs with the index label service_name; trace_id, span_id and severity_text
are structured metadata, and the distributor adds detected_level (lower-case: error, warn, info,
debug, ...) from severity_text (grafana/loki pkg/distributor/field_detection.go).
"""

from __future__ import annotations

from dashboards.board import UIDS, Json, dashboard
from dashboards.boards.alerting import alert_notification_items
from dashboards.fields import colors, columns, link_override, log_labels_as_fields, red_from
from dashboards.layout import Cell, Heading, Item, line
from dashboards.panels import logs, stat, table, timeseries
from dashboards.queries import LOKI, loki
from dashboards.variables import custom_var, datasource_var, loki_label_var, textbox_var

ERROR_LEVELS = "error|critical|fatal"
LOG_SEL = '{service_name=~"$service"}'
LOG_FILTERS = '|~ "(?i)$search" | detected_level=~"$level"'
TRACE_LINK = f"/d/{UIDS['traces']}/traces?var-trace_id=${{__value.raw}}&${{__url_time_range}}"


def _lines_by(label: str) -> str:
    """Selected log lines per interval, by `label`."""
    return f"sum by ({label}) (count_over_time({LOG_SEL} {LOG_FILTERS} [$__auto]))"


def _volume() -> list[Item]:
    return [
        Heading("Volume"),
        *line(
            timeseries(
                "Log lines by level",
                "Log lines per interval by level (Loki's detected_level, derived from the OTLP "
                "severity). A jump in error or warn is the first thing to look at.",
                [loki(_lines_by("detected_level"), "{{detected_level}}")],
                datasource=LOKI,
                stack=True,
                bars=True,
                overrides=colors(
                    ("error", "red"),
                    ("critical", "dark-red"),
                    ("warn", "orange"),
                    ("info", "green"),
                    ("debug", "blue"),
                ),
            ),
            timeseries(
                "Log lines by service",
                "Log lines per interval by service (the OTLP resource attribute service.name, "
                "index label service_name in Loki).",
                [loki(_lines_by("service_name"), "{{service_name}}")],
                datasource=LOKI,
                stack=True,
                bars=True,
            ),
            height=8,
        ),
    ]


def _errors() -> list[Item]:
    return [
        Heading("Errors"),
        Cell(
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
                threshold_steps=red_from(1),
                graph=False,
            ),
            width=4,
            height=8,
        ),
        Cell(
            table(
                "Recent errors (click a trace id to open the trace)",
                "The latest error-level lines. The trace_id column links to the Traces "
                "dashboard with that trace opened: the request that logged the error, span by "
                "span.",
                [loki(f'{LOG_SEL} | detected_level=~"{ERROR_LEVELS}"', max_lines=50)],
                datasource=LOKI,
                transformations=[
                    log_labels_as_fields(),
                    columns(["Time", "service_name", "detected_level", "trace_id", "Line"]),
                ],
                overrides=[link_override("trace_id", "Open this trace", TRACE_LINK)],
            ),
            width=20,
            height=8,
        ),
    ]


def _log_stream() -> list[Item]:
    return [
        Heading("Logs"),
        *line(
            logs(
                "Logs",
                "Log lines of the selected services, newest first, filtered by "
                "level and the search box (a case-insensitive regular expression). Expand a "
                "line: its trace_id field has a 'View trace' link (the Loki datasource's "
                "derived field) that opens the trace in Tempo.",
                [loki(f"{LOG_SEL} {LOG_FILTERS}", max_lines=500)],
            ),
            height=14,
        ),
    ]


def logs_dashboard() -> Json:
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
        [*_volume(), *_errors(), *_log_stream(), *alert_notification_items()],
    )

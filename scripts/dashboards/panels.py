"""One builder per panel type, with the options every panel of that type shares here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import heatmap as heatmap_b
from grafana_foundation_sdk.builders import logs as logs_b
from grafana_foundation_sdk.builders import nodegraph as nodegraph_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as timeseries_b
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import heatmap as hm

from dashboards.fields import GREEN_ONLY, Override, Thresholds, thresholds
from dashboards.queries import LOKI, PROM, TEMPO, Query

Panel = (
    timeseries_b.Panel
    | stat_b.Panel
    | table_b.Panel
    | heatmap_b.Panel
    | logs_b.Panel
    | nodegraph_b.Panel
    | dash.Panel
)


def _common(
    panel: Any,
    title: str,
    description: str,
    targets: Sequence[Query],
    datasource: cm.DataSourceRef,
    overrides: list[Override] | None,
) -> Any:
    """Title, description, datasource, the queries (refIds A, B, ...) and the overrides."""
    for ref, target in zip("ABCDEFGHIJ", targets, strict=False):
        target.ref_id(ref)
    panel = panel.title(title).description(description).datasource(datasource)
    if targets:
        panel = panel.targets(list(targets))
    for matcher, option, properties in overrides or []:
        panel = panel.with_override(dm.MatcherConfig(id_val=matcher, options=option), properties)
    return panel


def _legend_table() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .show_legend(True)
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.BOTTOM)
        .calcs(["mean", "max", "lastNotNull"])
    )


def timeseries(
    title: str,
    description: str,
    targets: Sequence[Query],
    *,
    unit: str = "short",
    stack: bool = False,
    bars: bool = False,
    datasource: cm.DataSourceRef = PROM,
    minimum: float | None = 0,
    maximum: float | None = None,
    threshold_steps: Thresholds | None = None,
    overrides: list[Override] | None = None,
) -> Panel:
    """Lines (or stacked bars); `threshold_steps` are drawn as dashed lines."""
    panel = (
        _common(timeseries_b.Panel(), title, description, targets, datasource, overrides)
        .unit(unit)
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.PALETTE_CLASSIC))
        .draw_style(cm.GraphDrawStyle.BARS if bars else cm.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(60 if bars else (25 if stack else 8))
        .show_points(cm.VisibilityMode.NEVER)
        .span_nulls(False)
        .stacking(
            cb.StackingConfig()
            .mode(cm.StackingMode.NORMAL if stack else cm.StackingMode.NONE)
            .group("A")
        )
        .thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(
                cm.GraphThresholdsStyleMode.DASHED
                if threshold_steps
                else cm.GraphThresholdsStyleMode.OFF
            )
        )
        .thresholds(threshold_steps or thresholds(GREEN_ONLY))
        .legend(_legend_table())
        .tooltip(
            cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if maximum is not None:
        panel = panel.max(maximum)
    return panel  # type: ignore[no-any-return]


def stat(
    title: str,
    description: str,
    targets: Sequence[Query],
    *,
    unit: str = "short",
    datasource: cm.DataSourceRef = PROM,
    threshold_steps: Thresholds | None = None,
    mappings: list[dm.ValueMapping] | None = None,
    decimals: int | None = None,
    graph: bool = True,
) -> Panel:
    """A big number coloured by its thresholds, with the series behind it unless `graph=False`."""
    panel = (
        _common(stat_b.Panel(), title, description, targets, datasource, None)
        .unit(unit)
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .thresholds(threshold_steps or thresholds(GREEN_ONLY))
        .mappings(mappings or [])
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
        .color_mode(cm.BigValueColorMode.VALUE)
        .graph_mode(cm.BigValueGraphMode.AREA if graph else cm.BigValueGraphMode.NONE)
        .justify_mode(cm.BigValueJustifyMode.AUTO)
        .orientation(cm.VizOrientation.AUTO)
        .text_mode(cm.BigValueTextMode.AUTO)
        .wide_layout(True)
        .show_percent_change(False)
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel  # type: ignore[no-any-return]


def table(
    title: str,
    description: str,
    targets: Sequence[Query],
    *,
    datasource: cm.DataSourceRef = PROM,
    transformations: list[dm.DataTransformerConfig] | None = None,
    overrides: list[Override] | None = None,
) -> Panel:
    return (  # type: ignore[no-any-return]
        _common(table_b.Panel(), title, description, targets, datasource, overrides)
        .transformations(transformations or [])
        .align(cm.FieldTextAlignment.AUTO)
        .filterable(True)
        .show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .footer(cb.TableFooterOptions().show(False))
    )


def heatmap(title: str, description: str, targets: Sequence[Query]) -> Panel:
    """Histogram buckets over time (already bucketed: Grafana calculates nothing)."""
    return (  # type: ignore[no-any-return]
        _common(heatmap_b.Panel(), title, description, targets, PROM, None)
        .scale_distribution(cb.ScaleDistributionConfig().type(cm.ScaleDistribution.LINEAR))
        .calculate(False)
        .y_axis(heatmap_b.YAxisConfig().unit("s").axis_placement(cm.AxisPlacement.LEFT))
        .rows_frame(heatmap_b.RowsHeatmapOptions().layout(cm.HeatmapCellLayout.AUTO))
        .color(
            heatmap_b.HeatmapColorOptions()
            .mode(hm.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .steps(64)
        )
        .cell_gap(1)
        .mode(cm.TooltipDisplayMode.SINGLE)  # the tooltip's
        .show_y_histogram()
        .show_legend()
        .exemplars_color("rgba(255,0,255,0.7)")
    )


def logs(title: str, description: str, targets: Sequence[Query]) -> Panel:
    return (  # type: ignore[no-any-return]
        _common(logs_b.Panel(), title, description, targets, LOKI, None)
        .show_time(True)
        .show_labels(False)
        .show_common_labels(False)
        .wrap_log_message(True)
        .prettify_log_message(False)
        .enable_log_details(True)
        .enable_infinite_scrolling(True)
        .dedup_strategy(cm.LogsDedupStrategy.NONE)
        .sort_order(cm.LogsSortOrder.DESCENDING)
    )


def node_graph(title: str, description: str, targets: Sequence[Query]) -> Panel:
    return _common(nodegraph_b.Panel(), title, description, targets, TEMPO, None)  # type: ignore[no-any-return]


def generic_panel(
    panel_type: str, title: str, description: str, targets: Sequence[Query], ds: cm.DataSourceRef
) -> dash.Panel:
    """A panel type the SDK has no builder for (traces, alertlist): the generic panel builder
    with the type's name; its options are then plain JSON."""
    return _common(dash.Panel().type(panel_type), title, description, targets, ds, None)  # type: ignore[no-any-return]

"""The dashboard variables: datasource pickers, label values, custom lists and text boxes."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.queries import LOKI, PROM

ALL = dm.VariableOption(selected=True, text=["All"], value=["$__all"])

Variable = Builder[Any]


def datasource_var(name: str, ds_type: str, label: str, default_uid: str) -> Variable:
    """A datasource picker; defaults to the provisioned uid, falls back to any of the type."""
    return (
        dash.DatasourceVariable(name)
        .hide(dm.VariableHide.DONT_HIDE)
        .label(label)
        .type(ds_type)
        .current(dm.VariableOption(selected=False, text=label, value=default_uid))
        .multi(False)
        .include_all(False)
        .regex("")
    )


def prometheus_picker() -> Variable:
    return datasource_var("prometheus", "prometheus", "Prometheus", "prometheus")


def _label_values(
    name: str, label: str, datasource: cm.DataSourceRef, query: dict[str, Any], all_value: str
) -> Variable:
    """Several values of a label, All by default; refreshed with the time range."""
    return (
        dash.QueryVariable(name)
        .hide(dm.VariableHide.DONT_HIDE)
        .label(label)
        .datasource(datasource)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(all_value)
        .current(ALL)
        .regex("")
    )


def prom_query_var(name: str, label: str, query: str) -> Variable:
    editor = {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"}
    return _label_values(name, label, PROM, editor, ".*")


def loki_label_var(name: str, label: str, loki_label: str) -> Variable:
    editor = {
        "type": 1,  # LokiVariableQueryType.labelValues
        "label": loki_label,
        "stream": "",
        "refId": "LokiVariableQueryEditor-VariableQuery",
    }
    return _label_values(name, label, LOKI, editor, ".+")


def custom_var(
    name: str, label: str, values: list[str], *, default: str, multi: bool, all_value: str = ".*"
) -> Variable:
    var = (
        dash.CustomVariable(name)
        .hide(dm.VariableHide.DONT_HIDE)
        .label(label)
        .values(",".join(values))
        .multi(multi)
        .include_all(multi)
        .options([dm.VariableOption(selected=v == default, text=v, value=v) for v in values])
        .current(ALL if default == "All" else dm.VariableOption(True, default, default))
    )
    return var.all_value(all_value) if multi else var


def textbox_var(name: str, label: str, default: str = "") -> Variable:
    return (
        dash.TextBoxVariable(name)
        .hide(dm.VariableHide.DONT_HIDE)
        .label(label)
        .default_value(default)
        .current(dm.VariableOption(selected=False, text=default, value=default))
        .options([dm.VariableOption(selected=True, text=default, value=default)])
    )

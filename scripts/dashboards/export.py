"""A dashboard in Grafana's import format, for "Import dashboard" in another Grafana.

Written by hand: the SDK models a dashboard, not the envelope Grafana's "Export for sharing
externally" wraps around it. Read in grafana/grafana (stored copies, no v13.2.1 snapshot):
public/app/features/dashboard/components/DashExportModal/DashboardExporter.ts (makeExportable:
`__inputs` entries {name, label, description, type: "datasource", pluginId, pluginName},
`__elements`, `__requires` sorted by id, `id` null, a datasource variable's `current` emptied)
and pkg/services/dashboardimport/utils/dash_template_evaluator.go (the import replaces every
"${<input name>}" in any string with the datasource chosen for that input and leaves other
"${...}" alone). Grafana's own exporter gives a dashboard that reaches its datasources through
variables no `__inputs` at all; here each datasource variable defaults to an input instead, so
"Import dashboard" asks for each datasource and the variables still let viewers switch later.
"""

from __future__ import annotations

import copy

from dashboards.board import Json

DATASOURCE_PLUGINS = {"prometheus": "Prometheus", "loki": "Loki", "tempo": "Tempo"}
# Core panel plugins (grafana/grafana public/app/plugins/panel/*/plugin.json "name").
PANEL_PLUGINS = {
    "alertlist": "Alert list",
    "heatmap": "Heatmap",
    "logs": "Logs",
    "nodeGraph": "Node Graph",
    "stat": "Stat",
    "table": "Table",
    "timeseries": "Time series",
    "traces": "Traces",
}


def input_name(ds_type: str) -> str:
    return f"DS_{ds_type.upper()}"


def _datasource_input(var: Json) -> Json:
    """The input "Import dashboard" asks for, for a datasource variable."""
    ds_type, plugin = var["query"], DATASOURCE_PLUGINS[var["query"]]
    return {
        "name": input_name(ds_type),
        "label": plugin,
        "description": f"The {plugin} datasource the ${var['name']} variable starts with",
        "type": "datasource",
        "pluginId": ds_type,
        "pluginName": plugin,
    }


def _required(kind: str, plugin_id: str, name: str, version: str) -> Json:
    return {"type": kind, "id": plugin_id, "name": name, "version": version}


def for_import(board: Json, grafana_version: str) -> Json:
    """The dashboard as Grafana's import format: one `__inputs` datasource per datasource
    variable, which the variable defaults to."""
    board = copy.deepcopy(board)
    board.pop("__comment", None)
    inputs = []
    requires = [_required("grafana", "grafana", "Grafana", grafana_version)]
    for var in board["templating"]["list"]:
        if var["type"] != "datasource":
            continue
        inputs.append(_datasource_input(var))
        ref = "${" + input_name(var["query"]) + "}"
        var["current"] = {"selected": False, "text": ref, "value": ref}
        requires.append(
            _required("datasource", var["query"], DATASOURCE_PLUGINS[var["query"]], "1.0.0")
        )
    panel_types = sorted({p["type"] for p in board["panels"] if p["type"] != "row"})
    requires += [_required("panel", t, PANEL_PLUGINS[t], "") for t in panel_types]
    board["id"] = None
    return {
        "__inputs": inputs,
        "__elements": {},
        "__requires": sorted(requires, key=lambda r: r["id"]),
        **board,
    }

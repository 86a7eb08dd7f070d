"""Checks for the Grafana dashboards in grafana/dashboards/ and their queries.

Each check is a small function returning a list of problems (empty = fine), so a test can run it
on the real dashboards and on broken samples alike. `promql_queries` gives every Prometheus panel
query with the dashboard variables replaced by representative values; the live tier can reuse it
to run the queries against a real Prometheus.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
IMPORTS = ROOT / "grafana" / "import"  # the same dashboards in Grafana's import format
DATASOURCE_PROVISIONING = ROOT / "grafana" / "provisioning" / "datasources"

# docs/architecture.md: used when the provisioning file is not there.
CONTRACT_DATASOURCES = {"prometheus": "prometheus", "loki": "loki", "tempo": "tempo"}

# Labels that carry a raw URL path; dashboards group and filter by the route template only.
RAW_PATH_LABELS = frozenset(
    {"path", "raw_path", "url", "url_path", "url_full", "http_url", "http_target", "http_path"}
)

# Built-in Grafana variables and their stand-ins when a query is checked outside Grafana.
BUILTIN_VALUES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__auto": "1m",
    "__range": "15m",
    "__interval_ms": "60000",
    "__range_s": "900",
    "__range_ms": "900000",
}

_VAR_REF = re.compile(r"\$\{(\w+)(?:[.:][^}]*)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
_BY_CLAUSE = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")

Json = dict[str, Any]


def load(path: Path) -> Json:
    data: Json = json.loads(path.read_text(encoding="utf-8"))
    return data


def dashboard_files(directory: Path = DASHBOARDS) -> list[Path]:
    return sorted(directory.glob("*.json"))


def provisioned_datasources(directory: Path = DATASOURCE_PROVISIONING) -> dict[str, str]:
    """uid -> type from the provisioning files, or the contract's uids if there are none."""
    found: dict[str, str] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for ds in doc.get("datasources") or []:
            if ds.get("uid"):
                found[ds["uid"]] = ds["type"]
    return found or dict(CONTRACT_DATASOURCES)


def iter_panels(board: Json) -> Iterator[Json]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def iter_targets(board: Json) -> Iterator[tuple[Json, Json]]:
    for panel in iter_panels(board):
        for target in panel.get("targets", []):
            yield panel, target


def variables(board: Json) -> dict[str, Json]:
    return {v["name"]: v for v in board.get("templating", {}).get("list", [])}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def variable_refs(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _VAR_REF.finditer(text)}


# --- checks -----------------------------------------------------------------------------------


def classic_json_problems(board: Json) -> list[str]:
    """File provisioning takes the classic model only: panels, templating, schemaVersion."""
    problems = []
    if not isinstance(board.get("panels"), list) or not board["panels"]:
        problems.append("no `panels` list")
    if not isinstance(board.get("schemaVersion"), int) or board["schemaVersion"] < 36:
        problems.append("missing or old `schemaVersion`")
    if not isinstance(board.get("templating", {}).get("list"), list):
        problems.append("no `templating.list`")
    for key in ("elements", "spec", "apiVersion", "kind", "layout"):
        if key in board:
            problems.append(f"v2 dashboard key `{key}`")
    uid = board.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        problems.append(f"bad uid {uid!r}")
    if not board.get("title"):
        problems.append("no title")
    ids = [p.get("id") for p in iter_panels(board)]
    if len(ids) != len(set(ids)):
        problems.append("duplicate panel ids")
    return problems


def description_problems(board: Json) -> list[str]:
    return [
        f"panel {p.get('title')!r} has no description"
        for p in iter_panels(board)
        if p.get("type") != "row" and not p.get("description")
    ]


GRID_COLUMNS = 24


def layout_problems(board: Json) -> list[str]:
    """The top-level panels fit Grafana's 24 columns, overlap nowhere, rows span the width, and
    every line of panels fills the 24 columns (no gap at the end of a line)."""
    problems = []
    boxes = []
    widths: dict[int, int] = {}
    for panel in board.get("panels", []):
        name = f"panel {panel.get('id')} {panel.get('title')!r}"
        pos = panel.get("gridPos") or {}
        x, y, w, h = (pos.get(k) for k in ("x", "y", "w", "h"))
        if not all(isinstance(v, int) for v in (x, y, w, h)):
            problems.append(f"{name}: no gridPos x, y, w, h")
            continue
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_COLUMNS:
            problems.append(f"{name}: gridPos {pos} outside the {GRID_COLUMNS} columns")
        if panel.get("type") == "row" and (x, w, h) != (0, GRID_COLUMNS, 1):
            problems.append(f"{name}: a row spans the width, one unit high")
        if panel.get("type") != "row":
            widths[y] = widths.get(y, 0) + w
        for other, (ox, oy, ow, oh) in boxes:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                problems.append(f"{name} overlaps {other}")
        boxes.append((name, (x, y, w, h)))
    problems += [
        f"the line at y={y} fills {used} of {GRID_COLUMNS} columns"
        for y, used in sorted(widths.items())
        if used != GRID_COLUMNS
    ]
    return problems


def datasource_problems(board: Json, provisioned: dict[str, str]) -> list[str]:
    """Every datasource is a datasource variable of the right type or a provisioned uid."""
    ds_vars = {
        name: var["query"] for name, var in variables(board).items() if var["type"] == "datasource"
    }
    problems = []

    def check(where: str, ds: Any) -> None:
        if not isinstance(ds, dict):
            problems.append(f"{where}: datasource {ds!r} is not a {{type, uid}} reference")
            return
        uid, ds_type = ds.get("uid", ""), ds.get("type")
        if ds_type == "grafana":
            return
        refs = variable_refs(uid)
        if refs:
            (name,) = refs
            if name not in ds_vars:
                problems.append(f"{where}: datasource variable ${name} is not defined")
            elif ds_vars[name] != ds_type:
                problems.append(f"{where}: ${name} picks {ds_vars[name]}, panel wants {ds_type}")
        elif uid not in provisioned:
            problems.append(f"{where}: datasource uid {uid!r} is not provisioned")
        elif provisioned[uid] != ds_type:
            problems.append(f"{where}: uid {uid!r} is a {provisioned[uid]}, not {ds_type}")

    for panel in iter_panels(board):
        if panel.get("type") == "row":
            continue
        where = f"panel {panel.get('title')!r}"
        check(where, panel.get("datasource"))
        for target in panel.get("targets", []):
            if "datasource" in target:
                check(f"{where} target {target.get('refId')}", target["datasource"])
    for name, var in variables(board).items():
        if var["type"] == "query":
            check(f"variable ${name}", var.get("datasource"))
    return problems


def undefined_variable_problems(board: Json) -> list[str]:
    defined = set(variables(board))
    used: set[str] = set()
    for text in _strings(
        [board.get("panels", []), board.get("templating", {}), board.get("links")]
    ):
        used |= variable_refs(text)
    return [
        f"variable ${name} is used but not defined"
        for name in sorted(used)
        if name not in defined and not name.startswith("__")
    ]


def labels_used(expr: str, legend: str = "") -> set[str]:
    found: set[str] = set()
    for clause in _BY_CLAUSE.findall(expr):
        found |= {label.strip() for label in clause.split(",") if label.strip()}
    for selector in _SELECTOR.findall(expr):
        found |= set(_MATCHER.findall(selector))
    found |= set(_LEGEND_LABEL.findall(legend))
    return found


def raw_path_problems(board: Json) -> list[str]:
    problems = []
    for panel, target in iter_targets(board):
        expr = target.get("expr", "") or target.get("query", "")
        bad = labels_used(expr, target.get("legendFormat", "")) & RAW_PATH_LABELS
        if bad:
            problems.append(f"panel {panel.get('title')!r} uses raw path label(s) {sorted(bad)}")
    return problems


# --- PromQL -----------------------------------------------------------------------------------


def representative_value(var: Json) -> str:
    if var["type"] == "datasource":
        return str(var.get("current", {}).get("value") or var["query"])
    if var["type"] == "textbox":
        return str(var.get("query") or "0123456789abcdef0123456789abcdef")
    if var.get("includeAll"):
        return str(var.get("allValue") or ".*")
    options = var.get("options") or []
    if options:
        return str(options[0]["value"])
    return str(var.get("current", {}).get("value") or "x")


def substitute(text: str, board: Json) -> str:
    values = {name: representative_value(var) for name, var in variables(board).items()}
    values |= BUILTIN_VALUES

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return values.get(name, match.group(0))

    return _VAR_REF.sub(replace, text)


def promql_queries(board: Json) -> list[tuple[str, str]]:
    """(panel title, PromQL with variables substituted) for every Prometheus target."""
    ds_vars = {n for n, v in variables(board).items() if v["type"] == "datasource"}
    queries = []
    for panel, target in iter_targets(board):
        ds = target.get("datasource") or panel.get("datasource") or {}
        is_prom = ds.get("type") == "prometheus" or (
            variable_refs(ds.get("uid", "")) & ds_vars
            and variables(board)[next(iter(variable_refs(ds["uid"])))]["query"] == "prometheus"
        )
        if is_prom and target.get("expr"):
            queries.append((str(panel.get("title")), substitute(target["expr"], board)))
    return queries


# Where the series a query reads come from. The app's own metrics exist as soon as the api and
# tagger are scraped; the rest needs the running stack (collector, Loki, Tempo with its metrics
# generator, Alertmanager, the alert receiver) or the rule files loaded into Prometheus.
_SOURCES = (
    ("recording rules", re.compile(r"[a-z_]*:[a-z0-9_:]+")),
    ("collector", re.compile(r"\botelcol_")),
    ("loki", re.compile(r"\bloki_")),
    ("tempo", re.compile(r"\btempo_")),
    ("tempo metrics generator", re.compile(r"\btraces_(spanmetrics|service_graph)_")),
    ("prometheus", re.compile(r"\b(up|scrape_\w+|prometheus_\w+)\b")),
    ("alertmanager", re.compile(r"\balertmanager_")),
    ("alert receiver", re.compile(r"\balert_receiver_")),
    # OpenTelemetry SDK HTTP metrics (prometheus/rules/http_sources.yml reads them).
    (
        "otel sdk",
        re.compile(
            r"\b(http_server_request_duration_seconds_|http_server_active_requests\b|target_info\b)"
        ),
    ),
    ("app", re.compile(r"\b(http_request|http_requests|loan_)\w*")),
)


def data_sources(expr: str) -> set[str]:
    """Which parts of the stack must run for `expr` to return data."""
    return {name for name, pattern in _SOURCES if pattern.search(re.sub(r'"[^"]*"', "", expr))}


def recording_rule_names_used(expr: str) -> set[str]:
    """Metric names with a colon: by convention only recording rules have one."""
    without_ranges = re.sub(r"\[[^\]]*\]", "", expr)
    without_strings = re.sub(r'"[^"]*"', '""', without_ranges)
    return set(re.findall(r"(?<![\w:])([a-zA-Z_]*:[a-zA-Z0-9_:]+)", without_strings))


def promtool_parse_problems(promtool: str, queries: list[tuple[str, str]]) -> list[str]:
    """Parse every expression with `promtool check rules` through a throwaway rules file."""
    rules = [
        {"record": f"dashboard_query_{i:03d}", "expr": expr} for i, (_, expr) in enumerate(queries)
    ]
    result = _promtool_check({"groups": [{"name": "dashboards", "rules": rules}]}, promtool)
    if result.returncode == 0:
        return []
    # Find the culprits one by one for a readable report.
    problems = []
    for where, expr in queries:
        single = {"groups": [{"name": "q", "rules": [{"record": "q", "expr": expr}]}]}
        one = _promtool_check(single, promtool)
        if one.returncode != 0:
            problems.append(f"{where}: {expr}\n{one.stdout}{one.stderr}")
    return problems or [result.stdout + result.stderr]


def _promtool_check(doc: Json, promtool: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboard-queries.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return subprocess.run(
            [promtool, "check", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

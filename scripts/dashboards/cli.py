"""Write the dashboards (grafana/dashboards/, grafana/import/), or check the committed files.

Two outputs, both committed and checked by --check and tests/config/test_dashboards.py:

- grafana/dashboards/*.json: classic JSON that Grafana's file provisioning loads.
- grafana/import/*.json: the same dashboards in the format of Grafana's "Export for sharing
  externally" (`__inputs` for the datasources, `__requires`), for "Import dashboard" in
  another Grafana. Outside the provisioned folder on purpose (docs/dashboards.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from dashboards.board import Json
from dashboards.boards.business import business_dashboard
from dashboards.boards.logs import logs_dashboard
from dashboards.boards.service_overview import service_overview
from dashboards.boards.telemetry_pipeline import pipeline_dashboard
from dashboards.boards.traces import traces_dashboard
from dashboards.export import for_import

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "grafana" / "dashboards"
# Not under OUT: the file provider walks its folder recursively (grafana/grafana
# pkg/services/provisioning/dashboards/file_reader.go, createWalkFn), so a copy in a subfolder
# would be provisioned twice under the same uid.
IMPORT_OUT = ROOT / "grafana" / "import"

BUILDERS: dict[str, Callable[[], Json]] = {
    "service-overview.json": service_overview,
    "logs.json": logs_dashboard,
    "traces.json": traces_dashboard,
    "business.json": business_dashboard,
    "telemetry-pipeline.json": pipeline_dashboard,
}


def grafana_version() -> str:
    """The Grafana version pinned in .env (GRAFANA_TAG)."""
    for line in (ROOT / ".env").read_text(encoding="utf-8").splitlines():
        if line.startswith("GRAFANA_TAG="):
            return line.split("=", 1)[1].strip()
    raise SystemExit(".env has no GRAFANA_TAG")


def render(board: Json) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """File name -> JSON text of every dashboard file provisioning reads."""
    return {name: render(builder()) for name, builder in BUILDERS.items()}


def build_imports() -> dict[str, str]:
    """File name -> JSON text of every dashboard in Grafana's import format."""
    version = grafana_version()
    return {name: render(for_import(builder(), version)) for name, builder in BUILDERS.items()}


def _files() -> list[tuple[Path, str]]:
    return [
        *((OUT / name, text) for name, text in build_all().items()),
        *((IMPORT_OUT / name, text) for name, text in build_imports().items()),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build_dashboards.py",
        description="Build the Grafana dashboards in grafana/dashboards/ and grafana/import/.",
    )
    parser.add_argument("--check", action="store_true", help="fail if the JSON files are stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in _files():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(path.parent.parent)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale, run scripts/build_dashboards.py: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0

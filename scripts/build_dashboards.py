"""Build the Grafana dashboards in grafana/dashboards/ and grafana/import/ with Grafana's own SDK.

    uv run python scripts/build_dashboards.py          # write the JSON files
    uv run python scripts/build_dashboards.py --check  # exit 1 if a committed file is stale

The dashboards are defined in the `dashboards` package next to this file (scripts/dashboards/,
one module per concern and one per dashboard; its docstring has the map).
"""

from __future__ import annotations

from dashboards.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

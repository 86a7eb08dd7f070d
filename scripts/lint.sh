#!/usr/bin/env bash
# Lint, format check, types and module boundaries: the same on a laptop and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
uv sync --locked --quiet
uv run --locked ruff check .
uv run --locked ruff format --check .
uv run --locked mypy
# The dashboard generator: its package (scripts/dashboards/) is in [tool.mypy] packages too; this
# adds the entry point. The SDK builders it calls are typed, so this checks every option.
uv run --locked mypy --strict scripts/build_dashboards.py scripts/dashboards
uv run --locked lint-imports --no-cache

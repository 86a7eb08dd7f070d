#!/usr/bin/env bash
# The observability package's unit tests (tests/unit/package) on each Python given, each in
# its own throw-away environment holding only the package, its extras and its `test` group: no
# service, no servicekit, no root dev tools. Usage: scripts/package-tests.sh 3.12 3.13
# A version uv cannot find on PATH is looked up in pyenv's versions folder, then left to uv
# (which downloads a managed Python where that is allowed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || { echo "usage: $0 PYTHON_VERSION..." >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for version in "$@"; do
  interpreter=$version
  if ! uv python find "$version" >/dev/null 2>&1; then
    found=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version"*/bin/python 2>/dev/null | tail -n 1 || true)
    [ -z "$found" ] || interpreter=$found
  fi
  echo "== observability package tests on Python $version ($interpreter)"
  UV_PROJECT_ENVIRONMENT="$work/venv-$version" uv run --quiet --locked --no-default-groups \
    --python "$interpreter" --package loan-desk-telemetry --all-extras --group test \
    --directory packages/loan-desk-telemetry pytest -q
done

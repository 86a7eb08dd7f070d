#!/usr/bin/env bash
# The test command (README): installs the locked dependencies with uv, then runs pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m unit` or `scripts/test.sh tests/config`.
# Backends a tier needs (PostgreSQL via TEST_POSTGRES_URL, Prometheus/promtool from apt) skip
# their tests with the reason when missing, and fail them when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  echo "uv not found: installing it for this user with pip" >&2
  python3 -m pip install --quiet --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi

uv sync --locked --quiet
set +e
uv run --locked pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  # pytest's "no tests were collected": a selection that matches nothing is a broken run.
  echo "pytest collected no tests: check the selection or the markers" >&2
  exit 1
fi
exit "$status"

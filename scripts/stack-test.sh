#!/usr/bin/env bash
# Runs the live-stack tests against a stack started by scripts/stack-up.sh.
# Usage: scripts/stack-test.sh [extra pytest args]
# shellcheck source=scripts/stack-env.sh
. "$(dirname "$0")/stack-env.sh"

uv run pytest -m live tests/live "$@"

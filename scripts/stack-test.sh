#!/usr/bin/env bash
# Runs the live-stack tests against a stack started by scripts/stack-up.sh. The stack alone
# (STACK_LAYER=stack) has no app to test: there, Prometheus must show every target it has up and
# none for the app's jobs (scripts/stack_alone_targets.py).
# Usage: [STACK_LAYER=stack] scripts/stack-test.sh [extra pytest args]
# shellcheck source=scripts/stack-env.sh
. "$(dirname "$0")/stack-env.sh"

if [ "$STACK_LAYER" = "stack" ]; then
  exec uv run python scripts/stack_alone_targets.py
fi

# The live tests log in to Grafana as admin for the datasource health and query APIs.
GF_SECURITY_ADMIN_PASSWORD="${GF_SECURITY_ADMIN_PASSWORD:-$(grafana_admin_password)}"
export GF_SECURITY_ADMIN_PASSWORD
# The alerting test switches a trainer scenario on at the api (tests/live/test_stack_alerting.py).
LIVE_ADMIN_TOKEN="${LIVE_ADMIN_TOKEN:-$(admin_token)}"
export LIVE_ADMIN_TOKEN
uv run pytest -m live tests/live "$@"

#!/usr/bin/env bash
# Builds the app image and brings the stack up (with the app, or alone with STACK_LAYER=stack),
# waiting until every healthcheck passes. Needs Docker Compose 2.20 or later (`include`).
# Usage: [STACK_LAYER=stack] scripts/stack-up.sh
# shellcheck source=scripts/stack-env.sh
. "$(dirname "$0")/stack-env.sh"

"${COMPOSE[@]}" up -d --build --wait --wait-timeout "${STACK_WAIT_TIMEOUT:-300}"

# The collector image has no shell, so compose cannot healthcheck it; probe its health_check
# extension from the prometheus container (busybox wget) instead.
echo "== otel-collector health_check"
for _ in $(seq 1 30); do
  if "${COMPOSE[@]}" exec -T prometheus wget -q -O - http://otel-collector:13133/ >/dev/null 2>&1; then
    echo "otel-collector is healthy"
    "${COMPOSE[@]}" ps
    exit 0
  fi
  sleep 2
done
echo "otel-collector health_check did not answer within 60 s" >&2
"${COMPOSE[@]}" logs otel-collector >&2 || true
exit 1

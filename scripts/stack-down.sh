#!/usr/bin/env bash
# Prints the state and recent logs of the stack (useful after a failed CI run), then removes it
# with its volumes. Usage: [STACK_LAYER=stack] scripts/stack-down.sh
# shellcheck source=scripts/stack-env.sh
. "$(dirname "$0")/stack-env.sh"

"${COMPOSE[@]}" ps -a || true
"${COMPOSE[@]}" logs --no-color --tail=200 || true
"${COMPOSE[@]}" down -v --remove-orphans

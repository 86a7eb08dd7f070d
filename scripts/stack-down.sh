#!/usr/bin/env bash
# Prints the state and recent logs of the stack (useful after a failed CI run), then removes it
# with its volumes. Usage: scripts/stack-down.sh
# shellcheck source=scripts/stack-env.sh
. "$(dirname "$0")/stack-env.sh"

docker compose ps -a || true
docker compose logs --no-color --tail=200 || true
docker compose down -v --remove-orphans

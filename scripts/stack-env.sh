# Sourced by the other scripts/stack-*.sh: repo root, image pins from .env, demo secrets, and
# which way the stack runs.
# shellcheck shell=bash
set -euo pipefail

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$STACK_ROOT"

# Image pins (plain KEY=VALUE lines) for `docker run` of each component's own validator.
set -a
# shellcheck disable=SC1091
. ./.env
set +a

# STACK_LAYER=stack: the observability stack alone (compose.observability.yaml). Anything else:
# the stack with the sample app (compose.yaml, which includes it). docs/stack.md.
STACK_LAYER="${STACK_LAYER:-full}"
if [ "$STACK_LAYER" = "stack" ]; then
  COMPOSE=(docker compose -f compose.observability.yaml)
else
  COMPOSE=(docker compose)
fi

# Secrets need nothing here: the stack's one-shot `secrets` service generates them on first start
# (docs/stack.md#secrets). Scripts that log in to Grafana read the admin password from it.
grafana_admin_password() {
  "${COMPOSE[@]}" exec -T grafana cat /run/stack-secrets/grafana_admin_password
}

# Trainer mode's admin token (the live alerting test switches a scenario on at the api).
admin_token() {
  "${COMPOSE[@]}" exec -T api cat /run/stack-secrets/admin_token
}

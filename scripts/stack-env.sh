# Sourced by the other scripts/stack-*.sh: repo root, image pins from .env, demo secrets.
# shellcheck shell=bash
set -euo pipefail

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$STACK_ROOT"

# Image pins (plain KEY=VALUE lines) for `docker run` of each component's own validator.
set -a
# shellcheck disable=SC1091
. ./.env
set +a

# Secrets need nothing here: the stack's one-shot `secrets` service generates them on first start
# (docs/stack.md#secrets). Scripts that log in to Grafana read the admin password from it.
grafana_admin_password() {
  docker compose exec -T grafana cat /run/stack-secrets/grafana_admin_password
}

# Trainer mode's admin token (the live alerting test switches a scenario on).
admin_token() {
  docker compose exec -T api cat /run/stack-secrets/admin_token
}

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

# compose.yaml refuses to start without these two secrets (docs/stack.md#secrets). CI and a
# throwaway local run get random ones, kept in .tmp/ so a second script in the same run agrees.
mkdir -p .tmp
for name in POSTGRES_PASSWORD GF_SECURITY_ADMIN_PASSWORD; do
  if [ -z "${!name:-}" ]; then
    file=".tmp/${name}"
    [ -s "$file" ] || od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$file"
    export "$name=$(cat "$file")"
  fi
done

#!/usr/bin/env bash
# Runs each component's own config validator, inside the pinned image, on the repo's config.
# Needs Docker. Usage: scripts/stack-validate.sh
# shellcheck source=scripts/stack-env.sh
. "$(dirname "$0")/stack-env.sh"

echo "== docker compose config: the stack with the app, then the stack alone"
docker compose config --quiet
docker compose -f compose.observability.yaml config --quiet

echo "== otelcol-contrib validate (${OTELCOL_IMAGE}:${OTELCOL_TAG})"
# The image is FROM scratch with ENTRYPOINT /otelcol-contrib; `validate` is its subcommand.
docker run --rm \
  -v "$STACK_ROOT/otel-collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro" \
  "${OTELCOL_IMAGE}:${OTELCOL_TAG}" validate --config=/etc/otelcol-contrib/config.yaml

echo "== promtool check config + test rules (${PROMETHEUS_IMAGE}:${PROMETHEUS_TAG})"
# The image is busybox-based: /bin/promtool next to /bin/prometheus, /bin/sh for the glob. Mounted
# as the stack with the app mounts them, so promtool also reads the app's file_sd target files.
docker run --rm --entrypoint /bin/sh \
  -v "$STACK_ROOT/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" \
  -v "$STACK_ROOT/prometheus/rules:/etc/prometheus/rules:ro" \
  -v "$STACK_ROOT/prometheus/tests:/etc/prometheus/tests:ro" \
  -v "$STACK_ROOT/prometheus/targets/api.yml:/etc/prometheus/api.targets.yml:ro" \
  -v "$STACK_ROOT/prometheus/targets/tagger.yml:/etc/prometheus/tagger.targets.yml:ro" \
  "${PROMETHEUS_IMAGE}:${PROMETHEUS_TAG}" -c '
    set -e
    promtool check config /etc/prometheus/prometheus.yml
    set -- /etc/prometheus/tests/*.yml
    if [ -e "$1" ]; then promtool test rules "$@"; else echo "no rule tests in prometheus/tests"; fi
  '

echo "== amtool check-config (${ALERTMANAGER_IMAGE}:${ALERTMANAGER_TAG})"
# The image ships /bin/amtool next to /bin/alertmanager.
docker run --rm --entrypoint /bin/amtool \
  -v "$STACK_ROOT/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" \
  "${ALERTMANAGER_IMAGE}:${ALERTMANAGER_TAG}" check-config /etc/alertmanager/alertmanager.yml

echo "== loki -verify-config (${LOKI_IMAGE}:${LOKI_TAG})"
docker run --rm \
  -v "$STACK_ROOT/loki/config.yaml:/etc/loki/config.yaml:ro" \
  "${LOKI_IMAGE}:${LOKI_TAG}" -config.file=/etc/loki/config.yaml -verify-config

echo "== tempo -config.verify (${TEMPO_IMAGE}:${TEMPO_TAG})"
docker run --rm \
  -v "$STACK_ROOT/tempo/tempo.yaml:/etc/tempo/tempo.yaml:ro" \
  "${TEMPO_IMAGE}:${TEMPO_TAG}" -target=all -config.file=/etc/tempo/tempo.yaml -config.verify

echo "All component validators passed."

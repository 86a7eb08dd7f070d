#!/usr/bin/env bash
# Install the backends from their upstream charts, pinned, into the namespace `monitoring`
# (docs/kubernetes.md, "Install the backends"). Needs helm 3 and a kubectl context; create the
# Secrets first (docs/kubernetes.md, "Secrets"). Re-running upgrades in place.
#
# tests/config/test_kubernetes.py reads the `helm upgrade` lines below: each chart's version is
# the one the values files were checked against, and every -f file exists.
set -euo pipefail
cd "$(dirname "$0")"
namespace=${NAMESPACE:-monitoring}

helm repo add prometheus-community https://prometheus-community.github.io/helm-charts
helm repo add grafana-community https://grafana-community.github.io/helm-charts
helm repo add open-telemetry https://open-telemetry.github.io/opentelemetry-helm-charts
helm repo update

# Prometheus, Alertmanager, Grafana, and the CRDs the app's ServiceMonitors need: first.
helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack --version 88.5.3 \
  --namespace "$namespace" --create-namespace \
  -f kube-prometheus-stack.yaml -f kube-prometheus-stack.datasources.yaml --wait

helm upgrade --install loki grafana-community/loki --version 18.11.0 \
  --namespace "$namespace" -f loki.yaml --wait

helm upgrade --install tempo grafana-community/tempo-distributed --version 3.3.0 \
  --namespace "$namespace" -f tempo-distributed.yaml --wait

helm upgrade --install otel-collector open-telemetry/opentelemetry-collector --version 0.170.0 \
  --namespace "$namespace" -f opentelemetry-collector.yaml -f opentelemetry-collector.config.yaml --wait

# The rules and dashboards generated from prometheus/rules/ and grafana/dashboards/.
kubectl apply -k ../monitoring

"""Generate the Kubernetes objects and chart values that come from the compose stack's files, so
the rules, dashboards, datasources and collector pipelines have one source for both targets.

    uv run python scripts/build_kubernetes.py          # write the generated files
    uv run python scripts/build_kubernetes.py --check  # exit 1 if a committed file is stale

Reads                                        writes (under deploy/kubernetes/)
prometheus/rules/*.yml                    -> monitoring/prometheusrules/<name>.yaml (PrometheusRule)
grafana/dashboards/*.json                 -> monitoring/dashboards/<name>.yaml (ConfigMap for the
                                             Grafana chart's dashboard sidecar)
                                          -> monitoring/kustomization.yaml (lists both)
grafana/provisioning/datasources/*.yaml   -> charts/kube-prometheus-stack.datasources.yaml
grafana/provisioning/dashboards/*.yaml       (the Grafana folder name, for the sidecar)
otel-collector/config.yaml                -> charts/opentelemetry-collector.config.yaml

tests/config/test_kubernetes.py fails when a committed file differs from what this script
builds; after changing any source above, run it and commit the result. Compose host names are
mapped to the Kubernetes Services in K8S_ADDRESSES; a source that names a host:port missing from
that table stops the build with the name to add.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "prometheus" / "rules"
DASHBOARDS = ROOT / "grafana" / "dashboards"
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources"
DASHBOARD_PROVIDERS = ROOT / "grafana" / "provisioning" / "dashboards"
COLLECTOR = ROOT / "otel-collector" / "config.yaml"
OUT = ROOT / "deploy" / "kubernetes"
MONITORING = OUT / "monitoring"
CHARTS = OUT / "charts"

# The namespace of the backends (charts/install.sh) and of the generated monitoring objects.
NAMESPACE = "monitoring"
PART_OF = {"app.kubernetes.io/part-of": "loan-desk"}


def _svc(name: str) -> str:
    return f"{name}.{NAMESPACE}.svc.cluster.local"


# compose host:port -> the Service that plays its part on Kubernetes (release names, chart
# versions and the sources of each name: charts/install.sh and the values files it uses).
K8S_ADDRESSES: dict[tuple[str, int], tuple[str, int]] = {
    # tempo-distributed 3.3.0: the distributor's Service takes OTLP (traces.otlp.grpc).
    ("tempo", 4317): (_svc("tempo-distributor"), 4317),
    # tempo-distributed 3.3.0: queryFrontend.service.httpMetricsPort 3200 serves Tempo's API.
    ("tempo", 3200): (_svc("tempo-query-frontend"), 3200),
    # loki 18.11.0 (grafana-community): gateway.service.port 80 routes reads and writes.
    ("loki", 3100): (_svc("loki-gateway"), 80),
    # The Prometheus Operator's governing Service of every Prometheus, whatever the release.
    ("prometheus", 9090): (_svc("prometheus-operated"), 9090),
    # The same for Alertmanager.
    ("alertmanager", 9093): (_svc("alertmanager-operated"), 9093),
}

# Components of opentelemetry-collector chart 0.170.0's default `config:` (its values.yaml) that
# otel-collector/config.yaml does not have: Helm deletes a default key whose user value is null,
# so each is set to null. tests/config/test_kubernetes.py merges the generated values over the
# chart's real values.yaml and holds the result to otel-collector/config.yaml.
CHART_DEFAULT_COMPONENTS = {
    "receivers": ("jaeger", "otlp", "prometheus", "zipkin"),
    "processors": ("batch", "memory_limiter"),
    "exporters": ("debug",),
    "extensions": ("health_check",),
    "pipelines": ("logs", "metrics", "traces"),
}
# memory_limiter in the chart's default sets percentages; ours sets MiB (one form, not both).
CHART_MEMORY_LIMITER_KEYS = ("limit_percentage", "spike_limit_percentage")

# k8sattributes (contrib processor/k8sattributesprocessor config.go: auth_type from k8sconfig
# APIConfig, passthrough, pod_association[].sources[].{from,name}, extract.metadata with the
# fields its Validate accepts). Pods send k8s.pod.name and k8s.namespace.name themselves
# (downward API, app/base); the connection's address is the fallback.
K8SATTRIBUTES = {
    "auth_type": "serviceAccount",
    "passthrough": False,
    "pod_association": [
        {
            "sources": [
                {"from": "resource_attribute", "name": "k8s.pod.name"},
                {"from": "resource_attribute", "name": "k8s.namespace.name"},
            ]
        },
        {"sources": [{"from": "connection"}]},
    ],
    "extract": {
        "metadata": [
            "k8s.namespace.name",
            "k8s.pod.name",
            "k8s.pod.uid",
            "k8s.pod.start_time",
            "k8s.node.name",
            "k8s.deployment.name",
            "k8s.replicaset.name",
        ]
    },
}

Json = dict[str, Any]


class BuildError(Exception):
    pass


# --- YAML output ------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(header: str, documents: list[Json]) -> str:
    body = "---\n".join(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
        for doc in documents
    )
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    return lines + body


def _no_helm_templates(where: str, node: Any) -> None:
    """The charts pass these values through Helm's `tpl`: `{{` would be run as a template."""
    text = json.dumps(node)
    if "{{" in text:
        raise BuildError(f"{where}: contains '{{{{', which the chart would run through tpl")


# --- addresses --------------------------------------------------------------------------------


def k8s_address(value: str, where: str) -> str:
    """`http://host:port/path` or `host:port` with the compose host:port replaced."""
    has_scheme = "//" in value
    parts = urlsplit(value if has_scheme else f"//{value}")
    if parts.hostname is None or parts.port is None:
        raise BuildError(f"{where}: no host:port in {value!r}")
    key = (parts.hostname, parts.port)
    if key not in K8S_ADDRESSES:
        raise BuildError(
            f"{where}: no Kubernetes address for {parts.hostname}:{parts.port}; "
            "add it to K8S_ADDRESSES in scripts/build_kubernetes.py"
        )
    host, port = K8S_ADDRESSES[key]
    rebuilt = urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, ""))
    return rebuilt if has_scheme else rebuilt.removeprefix("//")


# --- PrometheusRules --------------------------------------------------------------------------


def rule_files() -> list[Path]:
    return sorted([*RULES.glob("*.yml"), *RULES.glob("*.yaml")])


def prometheus_rule(path: Path) -> Json:
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"loan-desk-{path.stem}", "labels": dict(PART_OF)},
        "spec": spec,
    }


# --- dashboards -------------------------------------------------------------------------------


def dashboard_folder() -> str:
    """The folder the compose stack's file provider puts the dashboards in."""
    folders = {
        provider.get("folder", "")
        for path in sorted(DASHBOARD_PROVIDERS.glob("*.y*ml"))
        for provider in (yaml.safe_load(path.read_text()) or {}).get("providers") or []
    }
    if len(folders) != 1:
        raise BuildError(f"expected one dashboard folder in {DASHBOARD_PROVIDERS}, got {folders}")
    return folders.pop()


# grafana chart 12.11.1 values.yaml, sidecar.dashboards: `label: grafana_dashboard`, and
# kube-prometheus-stack 88.5.3 sets labelValue "1". The folder annotation's name is set in
# charts/kube-prometheus-stack.yaml (grafana.sidecar.dashboards.folderAnnotation).
DASHBOARD_LABEL = ("grafana_dashboard", "1")
FOLDER_ANNOTATION = "grafana_folder"


def dashboard_configmap(path: Path, folder: str) -> Json:
    text = path.read_text(encoding="utf-8")
    json.loads(text)  # a dashboard that is not JSON stops the build here
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"loan-desk-dashboard-{path.stem}",
            "labels": {DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1], **PART_OF},
            "annotations": {FOLDER_ANNOTATION: folder},
        },
        "data": {path.name: text},
    }


# --- chart values -----------------------------------------------------------------------------


def collector_config() -> Json:
    """otel-collector/config.yaml for the collector chart: exporters pointed at the chart-installed
    backends, k8sattributes after memory_limiter in every pipeline, chart defaults removed."""
    source = yaml.safe_load(COLLECTOR.read_text())
    config = copy.deepcopy(source)
    for name, exporter in (config.get("exporters") or {}).items():
        if isinstance(exporter, dict) and "endpoint" in exporter:
            exporter["endpoint"] = k8s_address(exporter["endpoint"], f"exporter {name}")
    processors = config.setdefault("processors", {})
    if "k8sattributes" in processors:
        raise BuildError("otel-collector/config.yaml has k8sattributes; it is Kubernetes-only")
    processors["k8sattributes"] = copy.deepcopy(K8SATTRIBUTES)
    pipelines = config["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        steps = pipeline.get("processors") or []
        if not steps or steps[0] != "memory_limiter":
            raise BuildError(f"pipeline {name}: memory_limiter is not the first processor")
        pipeline["processors"] = [steps[0], "k8sattributes", *steps[1:]]
    for section, names in CHART_DEFAULT_COMPONENTS.items():
        target = pipelines if section == "pipelines" else config.setdefault(section, {})
        for name in names:
            if name not in target:
                target[name] = None
    limiter = processors.get("memory_limiter") or {}
    if "limit_mib" in limiter:
        for key in CHART_MEMORY_LIMITER_KEYS:
            limiter.setdefault(key, None)
    _no_helm_templates("otel-collector/config.yaml", config)
    return {"config": config}


def grafana_datasources() -> Json:
    """grafana/provisioning/datasources for kube-prometheus-stack's Grafana, URLs mapped."""
    datasources: list[Json] = []
    delete: list[Json] = []
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        provisioning = yaml.safe_load(path.read_text()) or {}
        delete.extend(provisioning.get("deleteDatasources") or [])
        for datasource in provisioning.get("datasources") or []:
            mapped = copy.deepcopy(datasource)
            mapped["url"] = k8s_address(mapped["url"], f"datasource {mapped.get('uid')}")
            datasources.append(mapped)
    _no_helm_templates("grafana/provisioning/datasources", datasources)
    return {"grafana": {"deleteDatasources": delete, "additionalDataSources": datasources}}


# --- the files --------------------------------------------------------------------------------

GENERATED = (
    "Generated by scripts/build_kubernetes.py from {source}: do not edit.\n"
    "Change the source, run `uv run python scripts/build_kubernetes.py` and commit both."
)


def build() -> dict[Path, str]:
    files: dict[Path, str] = {}
    resources: list[str] = []
    for path in rule_files():
        target = MONITORING / "prometheusrules" / f"{path.stem}.yaml"
        source = path.relative_to(ROOT)
        header = GENERATED.format(source=source) + (
            "\nThe spec is the rule file unchanged: the rules `promtool test rules` tests "
            "(prometheus/tests)."
        )
        files[target] = dump(header, [prometheus_rule(path)])
        resources.append(str(target.relative_to(MONITORING)))
    folder = dashboard_folder()
    for path in sorted(DASHBOARDS.glob("*.json")):
        target = MONITORING / "dashboards" / f"{path.stem}.yaml"
        header = GENERATED.format(source=path.relative_to(ROOT)) + (
            f"\nPicked up by the Grafana chart's dashboard sidecar (label "
            f"{DASHBOARD_LABEL[0]}={DASHBOARD_LABEL[1]}),\ninto the folder named by the "
            f"{FOLDER_ANNOTATION} annotation."
        )
        files[target] = dump(header, [dashboard_configmap(path, folder)])
        resources.append(str(target.relative_to(MONITORING)))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": resources,
    }
    files[MONITORING / "kustomization.yaml"] = dump(
        GENERATED.format(source="prometheus/rules/ and grafana/dashboards/")
        + "\nOnce per cluster, in the backends' namespace (docs/kubernetes.md):\n"
        "  kubectl apply -k deploy/kubernetes/monitoring",
        [kustomization],
    )
    files[CHARTS / "opentelemetry-collector.config.yaml"] = dump(
        GENERATED.format(source="otel-collector/config.yaml")
        + "\nThe compose collector's config with exporters pointed at the chart-installed "
        "backends and\nk8sattributes after memory_limiter; null deletes a chart default "
        "(opentelemetry-collector 0.170.0).\nUsed with charts/opentelemetry-collector.yaml "
        "(charts/install.sh).",
        [collector_config()],
    )
    files[CHARTS / "kube-prometheus-stack.datasources.yaml"] = dump(
        GENERATED.format(source="grafana/provisioning/datasources/")
        + "\nThe compose stack's datasources (uids, links) with the Kubernetes Service URLs; "
        "a literal $ stays\n$$ (Grafana expands environment variables in provisioning). Used "
        "with\ncharts/kube-prometheus-stack.yaml (charts/install.sh).",
        [grafana_datasources()],
    )
    return files


def generated_dirs() -> list[Path]:
    return [MONITORING / "prometheusrules", MONITORING / "dashboards"]


def stale(files: dict[Path, str]) -> list[str]:
    """Committed files that differ from the build, and generated files with no source."""
    problems = []
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(ROOT)} is stale")
    for directory in generated_dirs():
        for path in sorted(directory.glob("*.yaml")):
            if path not in files:
                problems.append(f"{path.relative_to(ROOT)} has no source any more")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    try:
        files = build()
    except BuildError as error:
        print(f"build_kubernetes: {error}", file=sys.stderr)
        return 2
    if args.check:
        problems = stale(files)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: uv run python scripts/build_kubernetes.py", file=sys.stderr)
        return 1 if problems else 0
    for directory in generated_dirs():
        for path in directory.glob("*.yaml"):
            if path not in files:
                path.unlink()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

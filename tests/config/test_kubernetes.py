"""deploy/kubernetes/: every overlay built with a real kustomize and validated strictly (core
kinds with kubernetes-validate at a pinned Kubernetes version, Prometheus Operator kinds with the
CRD schemas), the generated rules, dashboards, datasources and collector config current with
their compose sources, every Helm values key checked against its chart, and the names, ports,
images and memory figures agreeing with the compose stack.

After changing prometheus/rules/, grafana/dashboards/, grafana/provisioning/ or
otel-collector/config.yaml: `uv run python scripts/build_kubernetes.py`, then commit.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.config import figures as fg
from tests.config import k8sfiles as kf
from tests.config import stackfiles as sf
from tests.support import prom_rules as r
from tests.support.tools import missing, require_executable

Json = dict[str, Any]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_kubernetes", sf.ROOT / "scripts" / "build_kubernetes.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def reference() -> Path:
    found = kf.reference_dir()
    if found is None:
        missing("shared/schemas/kubernetes (reference schemas) is not beside the repository")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def kustomize() -> list[str]:
    command = kf.kustomize_command()
    if command is None:
        missing("no kustomize: neither `kustomize` nor `kubectl` (with kustomize) is on PATH")
    assert command is not None
    return command


@pytest.fixture(scope="module")
def overlays(kustomize: list[str]) -> dict[str, list[Json]]:
    return {name: kf.kustomize_build(kustomize, kf.APP / "overlays" / name) for name in kf.OVERLAYS}


@pytest.fixture(scope="module")
def monitoring(kustomize: list[str]) -> list[Json]:
    return kf.kustomize_build(kustomize, kf.MONITORING)


@pytest.fixture(scope="module")
def compose() -> Json:
    return sf.load_compose({})


def chart_defaults(reference: Path, chart: str) -> Json:
    data: Json = sf.load_yaml(reference / "charts" / chart / "values.yaml")
    return data


def compose_services(compose: Json) -> Json:
    services: Json = compose["services"]
    return services


# --- the builds validate strictly ------------------------------------------------------------


@pytest.mark.parametrize("overlay", kf.OVERLAYS)
def test_overlay_builds_and_validates_strictly(
    overlays: dict[str, list[Json]], reference: Path, overlay: str
) -> None:
    docs = overlays[overlay]
    assert kf.validation_problems(docs, reference) == []
    kinds = sorted({doc["kind"] for doc in docs})
    assert kinds == sorted(
        {
            "ConfigMap",
            "Deployment",
            "Job",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceMonitor",
        }
    )


def test_monitoring_builds_and_validates_strictly(monitoring: list[Json], reference: Path) -> None:
    assert kf.validation_problems(monitoring, reference) == []
    assert {doc["metadata"]["namespace"] for doc in monitoring} == {gen.NAMESPACE}


def test_no_secret_is_committed(overlays: dict[str, list[Json]], monitoring: list[Json]) -> None:
    docs = [*monitoring, *(doc for built in overlays.values() for doc in built)]
    assert [doc for doc in docs if doc["kind"] == "Secret"] == []
    for path in kf.DEPLOY.rglob("*.y*ml"):
        assert "kind: Secret" not in path.read_text(), path


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        # An unknown field in a core kind (a typo of readinessProbe's periodSeconds).
        (lambda d: d["Deployment"]["spec"]["template"]["spec"]["containers"][0]
         ["readinessProbe"].update({"periodSecond": 10}), "periodSecond"),
        # A field of the wrong place: replicas belongs to the Deployment spec.
        (lambda d: d["Deployment"]["spec"]["template"]["spec"].update({"replicas": 2}),
         "replicas"),
        # An unknown field in a ServiceMonitor endpoint (CRD schema made strict).
        (lambda d: d["ServiceMonitor"]["spec"]["endpoints"][0].update({"intervall": "15s"}),
         "intervall"),
        # A wrong type in a CRD field.
        (lambda d: d["ServiceMonitor"]["spec"].update({"endpoints": {"port": "http"}}),
         "is not of type 'array'"),
    ],
)  # fmt: skip
def test_strict_validation_flags_broken_documents(
    overlays: dict[str, list[Json]], reference: Path, breakage: Any, expected: str
) -> None:
    docs = copy.deepcopy(overlays["production"])
    first = {doc["kind"]: doc for doc in reversed(docs)}
    breakage(first)
    problems = kf.validation_problems(docs, reference)
    assert any(expected in problem for problem in problems), problems


# --- one source: the generated files ----------------------------------------------------------


def test_generated_files_are_current() -> None:
    problems = gen.stale(gen.build())
    assert problems == [], (
        "deploy/kubernetes is stale: run `uv run python scripts/build_kubernetes.py` and commit "
        f"({problems})"
    )


def test_generator_check_flags_stale_and_orphaned_files() -> None:
    files = gen.build()
    target = next(p for p in files if p.parent.name == "prometheusrules")
    where = target.relative_to(sf.ROOT)
    assert gen.stale({**files, target: files[target] + "# edited\n"}) == [f"{where} is stale"]
    rest = {path: text for path, text in files.items() if path != target}
    assert gen.stale(rest) == [f"{where} has no source any more"]


def test_generator_refuses_a_host_it_cannot_map() -> None:
    with pytest.raises(gen.BuildError, match="add it to K8S_ADDRESSES"):
        gen.k8s_address("http://alert-receiver:8080/hook", "exporter x")
    assert gen.k8s_address("http://loki:3100/otlp", "x") == (
        "http://loki-gateway.monitoring.svc.cluster.local:80/otlp"
    )
    assert (
        gen.k8s_address("tempo:4317", "x") == "tempo-distributor.monitoring.svc.cluster.local:4317"
    )


def test_prometheus_rules_are_the_rule_files(monitoring: list[Json]) -> None:
    rules = kf.by_kind(monitoring, "PrometheusRule")
    files = r.rule_files()
    assert set(rules) == {f"loan-desk-{path.stem}" for path in files}
    for path in files:
        assert rules[f"loan-desk-{path.stem}"]["spec"] == r.load_yaml(path), path.name


def test_promtool_tests_pass_on_the_generated_rules(monitoring: list[Json], tmp_path: Path) -> None:
    """The rule groups inside the PrometheusRules, written back to files, pass every promtool
    unit test of prometheus/tests/ (their rule_files point at ../rules/)."""
    promtool = require_executable("promtool")
    rules_dir, tests_dir = tmp_path / "rules", tmp_path / "tests"
    rules_dir.mkdir()
    shutil.copytree(r.RULE_TESTS, tests_dir)
    for name, rule in kf.by_kind(monitoring, "PrometheusRule").items():
        stem = name.removeprefix("loan-desk-")
        (rules_dir / f"{stem}.yml").write_text(json.dumps(rule["spec"]))
    tests = sorted(p.name for p in tests_dir.glob("*.yml"))
    assert tests
    result = subprocess.run(
        [promtool, "test", "rules", *tests],
        cwd=tests_dir, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_configmaps_hold_the_dashboards(monitoring: list[Json]) -> None:
    maps = {
        name: doc
        for name, doc in kf.by_kind(monitoring, "ConfigMap").items()
        if name.startswith("loan-desk-dashboard-")
    }
    files = sorted(sf.GRAFANA_DASHBOARDS.glob("*.json"))
    assert set(maps) == {f"loan-desk-dashboard-{p.stem}" for p in files}
    (provider,) = sf.load_yaml(sf.GRAFANA_DASHBOARD_PROVIDERS / "dashboards.yaml")["providers"]
    for path in files:
        doc = maps[f"loan-desk-dashboard-{path.stem}"]
        assert doc["data"] == {path.name: path.read_text()}
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert doc["metadata"]["annotations"]["grafana_folder"] == provider["folder"]
        # kubectl apply keeps a copy in an annotation limited to 256 KiB.
        assert len(path.read_bytes()) < 128 * 1024, path.name


def test_dashboard_sidecar_is_set_up_for_the_configmaps(reference: Path) -> None:
    values = sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.yaml")
    defaults = chart_defaults(reference, "kube-prometheus-stack")
    sidecar = kf.coalesce(defaults, values)["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == gen.DASHBOARD_LABEL
    assert sidecar["searchNamespace"] == "ALL"
    assert sidecar["folderAnnotation"] == gen.FOLDER_ANNOTATION
    assert sidecar["provider"]["foldersFromFilesStructure"] is True


# --- Helm values against the charts -----------------------------------------------------------


def test_install_pins_the_checked_chart_versions(reference: Path) -> None:
    releases = kf.install_releases(kf.INSTALL.read_text())
    assert set(releases) == {"kube-prometheus-stack", "loki", "tempo", "otel-collector"}
    for release in releases.values():
        chart = sf.load_yaml(reference / "charts" / release["chart"] / "Chart.yaml")
        assert release["version"] == str(chart["version"]), release
        for name in release["files"]:
            assert (kf.CHARTS / name).is_file(), name
    values_files = {p.name for p in kf.CHARTS.glob("*.yaml")}
    used = {name for release in releases.values() for name in release["files"]}
    assert values_files == used


def test_collector_values_validate_against_the_chart_schema(reference: Path) -> None:
    user = kf.merge_user_values(
        kf.CHARTS / "opentelemetry-collector.yaml",
        kf.CHARTS / "opentelemetry-collector.config.yaml",
    )
    merged = kf.coalesce(chart_defaults(reference, "opentelemetry-collector"), user)
    schema = reference / "charts" / "opentelemetry-collector" / "values.schema.json"
    assert kf.schema_problems(merged, schema) == []
    tree = kf.key_tree(chart_defaults(reference, "opentelemetry-collector"))
    free = {
        "config": "held to otel-collector/config.yaml below",
        "clusterRole.rules": "validated as a ClusterRole below",
        "resources": "validated as container resources below",
        "podSecurityContext": "validated as a pod securityContext below",
        "securityContext": "validated as a container securityContext below",
        "podDisruptionBudget.minAvailable": "validated by the chart's values.schema.json",
    }
    assert kf.key_tree_problems(user, [tree], free) == []


def test_loki_values_validate_against_the_chart_schema_and_loki_keys(reference: Path) -> None:
    user = sf.load_yaml(kf.CHARTS / "loki.yaml")
    merged = kf.coalesce(chart_defaults(reference, "loki"), user)
    assert kf.schema_problems(merged, reference / "charts" / "loki" / "values.schema.json") == []
    # The schema lets loki.limits_config, compactor and schemaConfig hold anything: their keys
    # are Loki's own, checked against a real build's key list.
    known = sf.load_key_list("loki")
    loki = user["loki"]
    problems = kf.config_key_problems(loki["limits_config"], "limits_config", known)
    problems += kf.config_key_problems(loki["compactor"], "compactor", known)
    problems += kf.config_key_problems(loki["schemaConfig"], "schema_config", known)
    assert problems == []
    free = {
        "loki.limits_config": "Loki keys, above",
        "loki.compactor": "Loki keys, above",
        "loki.schemaConfig": "Loki keys, above",
        # Documented in a comment of the chart's values.yaml (loki.storage: "bucketNames:
        # chunks, ruler"), not set by default.
        "loki.storage.bucketNames": "the chart's values.yaml comment",
        "monitoring.serviceMonitor.relabelings": "validated as a ServiceMonitor below",
    }
    tree = kf.key_tree(chart_defaults(reference, "loki"))
    assert kf.key_tree_problems(user, [tree], free) == []


def test_tempo_values_against_the_chart_keys_and_tempo_keys(reference: Path) -> None:
    user = sf.load_yaml(kf.CHARTS / "tempo-distributed.yaml")
    known = sf.load_key_list("tempo")
    problems = kf.config_key_problems(user["storage"]["trace"]["s3"], "storage.trace.s3", known)
    problems += kf.config_key_problems(
        user["metricsGenerator"]["config"], "metrics_generator", known
    )
    problems += kf.config_key_problems(user["overrides"]["defaults"], "overrides.defaults", known)
    problems += kf.config_key_problems(
        user["backendScheduler"]["config"], "backend_scheduler", known
    )
    assert problems == []
    free = {
        "storage.trace.s3": "Tempo keys, above",
        "metricsGenerator.config.storage": "Tempo keys, above",
        # A map of label names (metrics_generator.registry.external_labels in Tempo's keys).
        "metricsGenerator.config.registry.external_labels": "label names; Tempo keys, above",
        "overrides.defaults.metrics_generator": "Tempo keys, above",
        "backendScheduler.config.provider": "Tempo keys, above",
        "metaMonitoring.serviceMonitor.relabelings": "validated as a ServiceMonitor below",
    }
    tree = kf.key_tree(chart_defaults(reference, "tempo-distributed"))
    assert kf.key_tree_problems(user, [tree], free) == []


def test_kube_prometheus_stack_values_against_its_keys_and_grafanas(reference: Path) -> None:
    user = kf.merge_user_values(
        kf.CHARTS / "kube-prometheus-stack.yaml",
        kf.CHARTS / "kube-prometheus-stack.datasources.yaml",
    )
    kps = kf.key_tree(chart_defaults(reference, "kube-prometheus-stack"))
    # grafana: is the grafana chart's values (12.11.1, the dependency kube-prometheus-stack pins).
    grafana = {f"grafana.{path}" for path in kf.key_tree(chart_defaults(reference, "grafana"))}
    free = {
        "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate": "validated as a PVC below",
    }
    assert kf.key_tree_problems(user, [kps, grafana], free) == []


@pytest.mark.parametrize(
    ("values", "misspelt"),
    [
        ("kube-prometheus-stack", {"prometheus": {"prometheusSpec": {"retension": "7d"}}}),
        (
            "kube-prometheus-stack",
            {"grafana": {"sidecar": {"dashboards": {"folderAnotation": "x"}}}},
        ),
        ("tempo-distributed", {"metricsGenerator": {"enable": True}}),
    ],
)
def test_key_tree_check_flags_a_misspelt_key(reference: Path, values: str, misspelt: Json) -> None:
    trees = [kf.key_tree(chart_defaults(reference, values))]
    if values == "kube-prometheus-stack":
        trees.append({f"grafana.{p}" for p in kf.key_tree(chart_defaults(reference, "grafana"))})
    assert len(kf.key_tree_problems(misspelt, trees, {})) == 1


def test_loki_schema_flags_a_wrong_deployment_value(reference: Path) -> None:
    user = copy.deepcopy(sf.load_yaml(kf.CHARTS / "loki.yaml"))
    user["write"]["replicas"] = "three"
    merged = kf.coalesce(chart_defaults(reference, "loki"), user)
    problems = kf.schema_problems(merged, reference / "charts" / "loki" / "values.schema.json")
    assert any("write.replicas" in p for p in problems), problems


def test_component_config_key_check_flags_a_misplaced_key() -> None:
    known = sf.load_key_list("tempo")
    assert kf.config_key_problems({"bucket_name": "x"}, "storage.trace.s3", known) != []
    known = sf.load_key_list("loki")
    assert kf.config_key_problems({"retention_period": "1h"}, "compactor", known) != []


def test_free_form_values_validate_as_the_kubernetes_objects_they_become(
    reference: Path,
) -> None:
    """Values the charts copy into objects verbatim, validated as those objects."""
    collector = sf.load_yaml(kf.CHARTS / "opentelemetry-collector.yaml")
    loki = sf.load_yaml(kf.CHARTS / "loki.yaml")
    tempo = sf.load_yaml(kf.CHARTS / "tempo-distributed.yaml")
    kps = sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.yaml")
    container = {
        "name": "c",
        "image": "x",
        "resources": collector["resources"],
        "securityContext": collector["securityContext"],
        "env": collector["extraEnvs"],
        "envFrom": [*loki["global"]["extraEnvFrom"], *tempo["global"]["extraEnvFrom"]],
    }
    docs: list[Json] = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
         "spec": {"securityContext": collector["podSecurityContext"], "containers": [container]}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "r"}, "rules": collector["clusterRole"]["rules"]},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "v"},
         "spec": kps["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]},
    ]  # fmt: skip
    for relabelings in (
        collector["serviceMonitor"]["relabelings"],
        loki["monitoring"]["serviceMonitor"]["relabelings"],
        tempo["metaMonitoring"]["serviceMonitor"]["relabelings"],
    ):
        docs.append(
            {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
             "metadata": {"name": "s"},
             "spec": {"selector": {}, "endpoints": [{"port": "m", "relabelings": relabelings}]}}
        )  # fmt: skip
    assert kf.validation_problems(docs, reference) == []


# --- the collector: the same pipelines as compose ---------------------------------------------


@pytest.fixture(scope="module")
def k8s_collector(reference: Path) -> Json:
    user = kf.merge_user_values(
        kf.CHARTS / "opentelemetry-collector.yaml",
        kf.CHARTS / "opentelemetry-collector.config.yaml",
    )
    merged: Json = kf.coalesce(chart_defaults(reference, "opentelemetry-collector"), user)
    config: Json = merged["config"]
    return config


def test_collector_runs_the_compose_pipelines_plus_k8sattributes(k8s_collector: Json) -> None:
    compose_config = sf.load_yaml(sf.COLLECTOR_CONFIG)
    pipelines = compose_config["service"]["pipelines"]
    assert set(k8s_collector["service"]["pipelines"]) == set(pipelines)
    for name, pipeline in pipelines.items():
        k8s = k8s_collector["service"]["pipelines"][name]
        assert k8s["receivers"] == pipeline["receivers"]
        assert k8s["exporters"] == pipeline["exporters"]
        processors = pipeline["processors"]
        assert k8s["processors"] == [processors[0], "k8sattributes", *processors[1:]]
    for section in ("receivers", "processors", "exporters", "extensions"):
        expected = set(compose_config[section]) | (
            {"k8sattributes"} if section == "processors" else set()
        )
        assert set(k8s_collector[section]) == expected, section
    for section in ("receivers", "processors", "extensions"):
        for name, component in compose_config[section].items():
            assert k8s_collector[section][name] == component, name
    for name, exporter in compose_config["exporters"].items():
        k8s = k8s_collector["exporters"][name]
        assert {k: v for k, v in k8s.items() if k != "endpoint"} == {
            k: v for k, v in exporter.items() if k != "endpoint"
        }
    assert k8s_collector["service"]["extensions"] == compose_config["service"]["extensions"]
    assert (
        k8s_collector["service"]["telemetry"]["metrics"]
        == compose_config["service"]["telemetry"]["metrics"]
    )


def test_collector_config_passes_the_compose_checks(k8s_collector: Json, monkeypatch: Any) -> None:
    types = copy.deepcopy(sf.COLLECTOR_TYPES)
    # contrib processor/k8sattributesprocessor, in the otelcol-contrib 0.159 distribution.
    types["processors"].add("k8sattributes")
    monkeypatch.setattr(sf, "COLLECTOR_TYPES", types)
    assert sf.check_collector_pipelines(k8s_collector) == []
    assert "{{" not in json.dumps(k8s_collector)  # the chart runs the config through tpl


def test_collector_exports_to_the_chart_installed_backends(k8s_collector: Json) -> None:
    releases = kf.install_releases(kf.INSTALL.read_text())
    tempo = sf.endpoint_hostport(k8s_collector["exporters"]["otlp_grpc/tempo"]["endpoint"])
    loki = k8s_collector["exporters"]["otlp_http/loki"]["endpoint"]
    ns = gen.NAMESPACE
    assert tempo == (f"tempo-distributor.{ns}.svc.cluster.local", 4317)
    assert {"tempo", "loki"} <= set(releases)
    assert loki == f"http://loki-gateway.{ns}.svc.cluster.local:80/otlp"
    tempo_values = sf.load_yaml(kf.CHARTS / "tempo-distributed.yaml")
    assert tempo_values["traces"]["otlp"]["grpc"]["enabled"] is True


def test_collector_memory_matches_compose(compose: Json, k8s_collector: Json) -> None:
    values = sf.load_yaml(kf.CHARTS / "opentelemetry-collector.yaml")
    service = compose_services(compose)["otel-collector"]
    assert _mib(values["resources"]["limits"]["memory"]) == fg.mem_limit(service) // fg.MIB
    (gomemlimit,) = [e["value"] for e in values["extraEnvs"] if e["name"] == "GOMEMLIMIT"]
    assert gomemlimit == service["environment"]["GOMEMLIMIT"]
    assert values["useGOMEMLIMIT"] is False
    limit_mib = k8s_collector["processors"]["memory_limiter"]["limit_mib"]
    assert limit_mib * fg.MIB < fg.go_bytes(gomemlimit)


# --- consistency with compose -----------------------------------------------------------------


def _mib(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, quantity
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


def test_image_tags_match_the_compose_pins() -> None:
    env = sf.load_env()
    collector = sf.load_yaml(kf.CHARTS / "opentelemetry-collector.yaml")
    assert (collector["image"]["repository"], collector["image"]["tag"]) == (
        env["OTELCOL_IMAGE"], env["OTELCOL_TAG"],
    )  # fmt: skip
    assert sf.load_yaml(kf.CHARTS / "loki.yaml")["loki"]["image"]["tag"] == env["LOKI_TAG"]
    tempo = sf.load_yaml(kf.CHARTS / "tempo-distributed.yaml")
    assert tempo["tempo"]["image"]["tag"] == env["TEMPO_TAG"]
    spec = sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.yaml")["prometheus"]["prometheusSpec"]
    assert spec["image"]["tag"] == spec["version"] == env["PROMETHEUS_TAG"]


@pytest.mark.parametrize("overlay", kf.OVERLAYS)
def test_app_images_are_the_compose_app_image(
    overlays: dict[str, list[Json]], overlay: str
) -> None:
    env = sf.load_env()
    for doc in overlays[overlay]:
        if doc["kind"] in {"Deployment", "Job"}:
            for container in kf.pod_spec(doc)["containers"]:
                assert container["image"] == f"{env['APP_IMAGE']}:{env['APP_TAG']}"


def test_job_names_are_the_compose_jobs(overlays: dict[str, list[Json]]) -> None:
    jobs = set()
    for monitor in kf.by_kind(overlays["production"], "ServiceMonitor").values():
        for endpoint in monitor["spec"]["endpoints"]:
            (relabel,) = [x for x in endpoint["relabelings"] if x.get("targetLabel") == "job"]
            jobs.add(relabel["replacement"])
    for values, path in (
        ("opentelemetry-collector.yaml", "serviceMonitor"),
        ("loki.yaml", "monitoring.serviceMonitor"),
        ("tempo-distributed.yaml", "metaMonitoring.serviceMonitor"),
    ):
        monitor = kf.subtree(sf.load_yaml(kf.CHARTS / values), path)
        assert monitor["enabled"] is True
        (relabel,) = monitor["relabelings"]
        assert (relabel["targetLabel"], relabel["action"]) == ("job", "replace")
        jobs.add(relabel["replacement"])
    compose_jobs = {job["job_name"] for job in sf.load_yaml(sf.PROMETHEUS_CONFIG)["scrape_configs"]}
    # Prometheus, Alertmanager and Grafana are scraped by kube-prometheus-stack under its own job
    # names. The alert receiver is the compose stack's stand-in for a team's notification channel:
    # on a cluster, kube-prometheus-stack's Alertmanager routes to the team's own receivers
    # (docs/kubernetes.md).
    assert jobs == compose_jobs - {"prometheus", "alertmanager", "grafana", "alert-receiver"}
    assert jobs <= sf.architecture_jobs()


@pytest.mark.parametrize("overlay", kf.OVERLAYS)
def test_services_ports_and_urls_match_compose(
    overlays: dict[str, list[Json]], compose: Json, overlay: str
) -> None:
    docs = overlays[overlay]
    services = kf.by_kind(docs, "Service")
    deployments = kf.by_kind(docs, "Deployment")
    compose_svcs = compose_services(compose)
    for name in ("api", "tagger"):
        (port,) = services[name]["spec"]["ports"]
        (container,) = kf.pod_spec(deployments[name])["containers"]
        assert container["command"] == compose_svcs[name]["command"]
        assert port["port"] == int(compose_svcs[name]["command"][-1])
        assert port["port"] == container["ports"][0]["containerPort"]
        probes = (container["livenessProbe"], container["readinessProbe"])
        assert [p["httpGet"]["path"] for p in probes] == ["/health/live", "/health/ready"]
        env = kf.container_env(container)
        assert (
            env["OTEL_SERVICE_NAME"]["value"]
            == (compose_svcs[name]["environment"]["OTEL_SERVICE_NAME"])
        )
    api_env = kf.container_env(kf.pod_spec(deployments["api"])["containers"][0])
    assert api_env["TAGGER_URL"]["value"] == compose_svcs["api"]["environment"]["TAGGER_URL"]


def test_apps_send_otlp_to_the_collector_service(
    overlays: dict[str, list[Json]], k8s_collector: Json
) -> None:
    (telemetry,) = [
        doc for doc in overlays["production"]
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("telemetry-")
    ]  # fmt: skip
    host, port = sf.endpoint_hostport(telemetry["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    collector = sf.load_yaml(kf.CHARTS / "opentelemetry-collector.yaml")
    assert host == f"{collector['fullnameOverride']}.{gen.NAMESPACE}.svc.cluster.local"
    http = k8s_collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert port == sf.endpoint_hostport(http)[1]
    assert telemetry["data"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"


def test_datasources_keep_the_compose_uids_and_links() -> None:
    generated = sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.datasources.yaml")["grafana"]
    provisioned = {ds["uid"]: ds for ds in sf.provisioned_datasources()}
    k8s = {ds["uid"]: ds for ds in generated["additionalDataSources"]}
    assert set(k8s) == set(provisioned)
    for uid, datasource in provisioned.items():
        assert {k: v for k, v in k8s[uid].items() if k != "url"} == {
            k: v for k, v in datasource.items() if k != "url"
        }
        host, port = sf.endpoint_hostport(datasource["url"])
        assert k8s[uid]["url"] == gen.k8s_address(datasource["url"], uid)
        assert (host, port) in gen.K8S_ADDRESSES
    assert sf.check_grafana_dollar_escaping(generated["additionalDataSources"]) == []
    kps = sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.yaml")
    assert kps["grafana"]["sidecar"]["datasources"]["defaultDatasourceEnabled"] is False


def test_tempo_remote_writes_to_the_operator_prometheus() -> None:
    tempo = sf.load_yaml(kf.CHARTS / "tempo-distributed.yaml")
    (remote,) = tempo["metricsGenerator"]["config"]["storage"]["remote_write"]
    host, port = gen.K8S_ADDRESSES[("prometheus", 9090)]
    assert remote == {"url": f"http://{host}:{port}/api/v1/write", "send_exemplars": True}
    compose_tempo = sf.load_yaml(sf.TEMPO_CONFIG)
    assert tempo["overrides"]["defaults"] == compose_tempo["overrides"]["defaults"]
    spec = sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.yaml")["prometheus"]["prometheusSpec"]
    assert spec["enableRemoteWriteReceiver"] is True
    assert "exemplar-storage" in spec["enableFeatures"]


def test_retention_is_the_stacks_one_figure() -> None:
    days = fg.stated_retention_days(sf.STACK_DOC.read_text())
    want = f"{days * 24}h"
    spec = sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.yaml")["prometheus"]["prometheusSpec"]
    assert spec["retention"] == f"{days}d"
    loki = sf.load_yaml(kf.CHARTS / "loki.yaml")["loki"]
    assert loki["limits_config"]["retention_period"] == want
    assert loki["compactor"]["retention_enabled"] is True
    tempo = sf.load_yaml(kf.CHARTS / "tempo-distributed.yaml")
    scheduler = tempo["backendScheduler"]["config"]["provider"]["compaction"]["compaction"]
    assert scheduler["block_retention"] == want


# --- the pods ---------------------------------------------------------------------------------


def _workloads(docs: list[Json]) -> list[Json]:
    return [doc for doc in docs if doc["kind"] in {"Deployment", "Job"}]


def test_memory_from_the_measured_figures(overlays: dict[str, list[Json]], compose: Json) -> None:
    rows = {row.service: row for row in fg.memory_table(sf.STACK_DOC.read_text())}
    compose_svcs = compose_services(compose)
    docs = overlays["demo"]
    names = {doc["metadata"]["name"] for doc in _workloads(docs)}
    assert names == {"api", "tagger", "loadgen", "migrate"}
    for doc in _workloads(docs):
        name = doc["metadata"]["name"]
        (container,) = kf.pod_spec(doc)["containers"]
        resources = container["resources"]
        assert _mib(resources["limits"]["memory"]) * fg.MIB == fg.mem_limit(compose_svcs[name])
        request = _mib(resources["requests"]["memory"])
        measured = rows[name].measured_mb
        if measured is not None:
            assert request == math.ceil(measured / 64) * 64, name
        assert "cpu" not in resources.get("limits", {}), name


@pytest.mark.parametrize("overlay", kf.OVERLAYS)
def test_pods_are_locked_down(overlays: dict[str, list[Json]], overlay: str) -> None:
    uid = int(re.search(r"--uid (\d+)", (sf.ROOT / "Dockerfile").read_text())[1])  # type: ignore[index]
    for doc in _workloads(overlays[overlay]):
        spec = kf.pod_spec(doc)
        name = doc["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name
        context = spec["securityContext"]
        assert (context["runAsNonRoot"], context["runAsUser"], context["runAsGroup"]) == (
            True, uid, uid,
        ), name  # fmt: skip
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "/tmp" in mounts, name  # the image's WORKDIR, an emptyDir
            for mount in mounts.values():
                volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
                assert ("secret" in volume) == mount.get("readOnly", False), name


def test_grace_period_covers_prestop_and_the_stop_budget(overlays: dict[str, list[Json]]) -> None:
    stop_budget = 5  # issue 12: a service stops within 5 s whatever the collector does
    for doc in kf.by_kind(overlays["production"], "Deployment").values():
        spec = kf.pod_spec(doc)
        (container,) = spec["containers"]
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert spec["terminationGracePeriodSeconds"] == pre_stop + stop_budget + 5


def test_resource_attributes_from_the_downward_api(overlays: dict[str, list[Json]]) -> None:
    fields = {
        "k8s.pod.name": "metadata.name",
        "k8s.namespace.name": "metadata.namespace",
        "k8s.node.name": "spec.nodeName",
    }
    for name in ("api", "tagger"):
        (container,) = kf.pod_spec(kf.by_kind(overlays["production"], "Deployment")[name])[
            "containers"
        ]
        env = container["env"]
        names = [entry["name"] for entry in env]
        attributes = kf.container_env(container)["OTEL_RESOURCE_ATTRIBUTES"]["value"]
        pairs = dict(item.split("=", 1) for item in attributes.split(","))
        assert pairs["deployment.environment.name"] == "$(DEPLOYMENT_ENVIRONMENT)"
        for attribute, field in fields.items():
            variable = re.fullmatch(r"\$\((\w+)\)", pairs[attribute])
            assert variable, attribute
            entry = kf.container_env(container)[variable[1]]
            assert entry["valueFrom"]["fieldRef"]["fieldPath"] == field
            # $(VAR) expands only from variables defined before it.
            assert names.index(variable[1]) < names.index("OTEL_RESOURCE_ATTRIBUTES")


def test_demo_has_trainer_mode_and_loadgen_production_neither(
    overlays: dict[str, list[Json]],
) -> None:
    for overlay, on in (("demo", True), ("production", False)):
        deployments = kf.by_kind(overlays[overlay], "Deployment")
        assert ("loadgen" in deployments) is on
        for name in ("api", "tagger"):
            env = kf.container_env(kf.pod_spec(deployments[name])["containers"][0])
            assert (env.get("ADMIN_ENABLED", {}).get("value") == "true") is on, (overlay, name)
            assert ("ADMIN_TOKEN_FILE" in env) is on
        (telemetry,) = [
            d for d in overlays[overlay]
            if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("telemetry-")
        ]  # fmt: skip
        assert telemetry["data"]["APP_ENV"] == overlay
        assert telemetry["data"]["DEPLOYMENT_ENVIRONMENT"] == overlay


def test_network_policies_open_only_the_needed_paths(overlays: dict[str, list[Json]]) -> None:
    policies = kf.by_kind(overlays["demo"], "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    def egress_ports(name: str) -> set[int]:
        return {p["port"] for rule in policies[name]["spec"]["egress"] for p in rule["ports"]}

    assert egress_ports("api") == {8001, 4318, 5432}
    assert egress_ports("tagger") == {4318}
    assert egress_ports("migrate") == {4318, 5432}
    assert egress_ports("loadgen") == {8000}
    (tagger_in,) = policies["tagger"]["spec"]["ingress"]
    sources = [s.get("podSelector", {}).get("matchLabels") for s in tagger_in["from"]]
    assert {"app.kubernetes.io/name": "api"} in sources
    assert [p["port"] for p in tagger_in["ports"]] == [8001]


def test_migration_runs_before_the_api_as_an_argo_cd_presync_hook(
    overlays: dict[str, list[Json]],
) -> None:
    (job,) = kf.by_kind(overlays["production"], "Job").values()
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PreSync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    (container,) = kf.pod_spec(job)["containers"]
    assert container["command"] == ["loan-api", "migrate"]


def test_secrets_are_referenced_and_documented(overlays: dict[str, list[Json]]) -> None:
    doc = (sf.ROOT / "docs" / "kubernetes.md").read_text()
    names = set()
    for docs in overlays.values():
        for workload in _workloads(docs):
            for volume in kf.pod_spec(workload).get("volumes") or []:
                if "secret" in volume:
                    names.add(volume["secret"]["secretName"])
    for values in ("loki.yaml", "tempo-distributed.yaml"):
        for source in sf.load_yaml(kf.CHARTS / values)["global"]["extraEnvFrom"]:
            names.add(source["secretRef"]["name"])
    names.add(
        sf.load_yaml(kf.CHARTS / "kube-prometheus-stack.yaml")["grafana"]["admin"]["existingSecret"]
    )
    assert names == {
        "loan-desk-database",
        "loan-desk-admin-token",
        "loki-s3",
        "tempo-s3",
        "grafana-admin",
    }
    for name in names:
        assert f"kubectl create secret generic {name}" in doc or f"secret generic {name}" in doc, (
            name
        )

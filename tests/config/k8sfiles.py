"""Loading and checking deploy/kubernetes/: kustomize builds, strict schema validation, Helm values
against the upstream charts' schemas and key trees. Checkers return problems (empty when all is
well), so a test can run them on the real files and on a deliberately broken copy.

Reference data (Prometheus Operator CRD schemas, the charts' values.yaml / values.schema.json):
shared/schemas/kubernetes/ beside the repository (its README names sources and versions).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.config import stackfiles as sf

ROOT = sf.ROOT
DEPLOY = ROOT / "deploy" / "kubernetes"
APP = DEPLOY / "app"
OVERLAYS = ("demo", "production")
MONITORING = DEPLOY / "monitoring"
CHARTS = DEPLOY / "charts"
INSTALL = CHARTS / "install.sh"

# The Kubernetes version the manifests are validated against: the oldest minor the upstream
# project still supported when this was written (1.35; 1.36 and 1.37 are newer). Everything used
# here (policy/v1 PodDisruptionBudget with unhealthyPodEvictionPolicy, lifecycle.preStop.sleep)
# is in its schema. kubernetes-validate 1.37.0 ships schemas for 1.35 to 1.37.
KUBERNETES_VERSION = "1.35.0"

CRD_SCHEMAS = {
    "ServiceMonitor": "servicemonitor-v1.json",
    "PodMonitor": "podmonitor-v1.json",
    "PrometheusRule": "prometheusrule-v1.json",
}

Json = dict[str, Any]
Problems = list[str]


def reference_dir() -> Path | None:
    """shared/schemas/kubernetes beside the repository or one level further up (a worktree)."""
    for parent in ROOT.parents:
        candidate = parent / "shared" / "schemas" / "kubernetes"
        if candidate.is_dir():
            return candidate
    return None


# --- kustomize --------------------------------------------------------------------------------


def kustomize_command() -> list[str] | None:
    """A real kustomize: the standalone binary, or the one built into kubectl."""
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    return None


def kustomize_build(command: list[str], directory: Path) -> list[Json]:
    result = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize build {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def manifest_documents(path: Path) -> list[Json]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# --- schema validation ------------------------------------------------------------------------


def strict(schema: Any) -> Any:
    """A CRD's openAPIV3Schema with unknown fields refused, as the API server's strict field
    validation does: every object with `properties` and no `additionalProperties` or
    x-kubernetes-preserve-unknown-fields gets additionalProperties: false."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # The top level's apiVersion/kind/metadata are not listed in a CRD's schema.
    schema.setdefault("properties", {})
    for key in ("apiVersion", "kind", "metadata"):
        schema["properties"].setdefault(key, {})
    return schema


def crd_validator(reference: Path, kind: str) -> jsonschema.Draft7Validator:
    # No check_schema(): the PrometheusRule schema has a pattern Python's re rejects
    # (shared/schemas/kubernetes/README.md, "Notes"); no document here sets that field.
    schema = json.loads((reference / "crd" / CRD_SCHEMAS[kind]).read_text())
    return jsonschema.Draft7Validator(strict(schema))


def validation_problems(docs: list[Json], reference: Path) -> Problems:
    """Every document strictly valid: core kinds with kubernetes-validate at
    KUBERNETES_VERSION, Prometheus Operator kinds with the CRD schemas."""
    problems = []
    validators: dict[str, jsonschema.Draft7Validator] = {}
    for doc in docs:
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        kind = doc.get("kind", "")
        if kind in CRD_SCHEMAS:
            if kind not in validators:
                validators[kind] = crd_validator(reference, kind)
            for error in validators[kind].iter_errors(doc):
                where = ".".join(str(p) for p in error.absolute_path)
                problems.append(f"{name}: {where}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            problems.append(f"{name}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name}: no schema for {doc.get('apiVersion')} {kind}")
    return problems


# --- Helm values ------------------------------------------------------------------------------


def coalesce(defaults: Any, override: Any) -> Any:
    """Helm's merge of user values over chart defaults: maps merge, anything else replaces, and
    a null deletes the default key."""
    if not isinstance(defaults, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(defaults)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_user_values(*files: Path) -> Json:
    """Several -f files, later ones over earlier ones (nulls kept, for the chart's defaults)."""
    merged: Json = {}

    def over(base: Json, top: Json) -> None:
        for key, value in top.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                over(base[key], value)
            else:
                base[key] = copy.deepcopy(value)

    for path in files:
        over(merged, sf.load_yaml(path) or {})
    return merged


def value_paths(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every map key; lists are leaves."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, value
            yield from value_paths(value, path)


def key_tree(values: Any) -> set[str]:
    return {path for path, _ in value_paths(values)}


def key_tree_problems(user: Json, trees: list[set[str]], free_form: Mapping[str, str]) -> Problems:
    """Every key the values file sets is a key of the chart's default values (of any tree in
    `trees`), or lies under a path declared free-form (with what checks it instead)."""
    problems = []
    for path, _ in value_paths(user):
        if any(path == f or path.startswith(f + ".") for f in free_form):
            continue
        if not any(path in tree for tree in trees):
            problems.append(f"{path}: not a key of the chart's values.yaml")
    return problems


def subtree(values: Json, path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def config_key_problems(node: Any, prefix: str, known: set[str]) -> Problems:
    """Keys of a component config set through chart values, against the component's own key
    list (tests/config/data/*-keys.txt notation)."""
    problems = []
    for path in sf.config_key_paths(node, prefix):
        parent = path.rsplit(".", 1)[0]
        if path not in known and f"{parent}{{*}}" not in known:
            problems.append(f"{path}: not a key of the pinned version")
    return problems


def schema_problems(values: Json, schema_path: Path) -> Problems:
    schema = json.loads(schema_path.read_text())
    # The collector chart's schema names "http://json-schema.org/schema#" (no draft); its
    # keywords are draft-07's, and jsonschema would warn and guess the newest draft.
    if schema.get("$schema", "").rstrip("#") == "http://json-schema.org/schema":
        validator_class: Any = jsonschema.Draft7Validator
    else:
        validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(values)
    ]


# --- install.sh -------------------------------------------------------------------------------


def install_releases(text: str) -> dict[str, dict[str, Any]]:
    """release -> chart, version and -f files, from the `helm upgrade --install` commands."""
    releases: dict[str, dict[str, Any]] = {}
    joined = text.replace("\\\n", " ")
    for line in joined.splitlines():
        words = line.split()
        if words[:3] != ["helm", "upgrade", "--install"]:
            continue
        release, chart = words[3], words[4]
        version = words[words.index("--version") + 1]
        files = [words[i + 1] for i, word in enumerate(words) if word == "-f"]
        releases[release] = {"chart": chart.split("/", 1)[1], "version": version, "files": files}
    return releases


# --- manifests --------------------------------------------------------------------------------


def by_kind(docs: list[Json], kind: str) -> dict[str, Json]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") == kind}


def pod_spec(doc: Json) -> Json:
    spec: Json = doc["spec"]["template"]["spec"]
    return spec


def container_env(container: Json) -> dict[str, Json]:
    return {entry["name"]: entry for entry in container.get("env") or []}

"""Loading the stack's config files, and the checkers the config tests run on them.

Each checker takes parsed data and returns a list of problems (empty when all is well), so a test
can feed it the real files and, to prove it can fail, a deliberately broken copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The stack with the app (compose.yaml includes the stack and applies the app's override to it),
# and the stack alone.
COMPOSE_FILE = ROOT / "compose.yaml"
STACK_COMPOSE_FILE = ROOT / "compose.observability.yaml"
APP_OVERRIDE_FILE = ROOT / "compose.observability.app.yaml"
COMPOSE_FILES = (COMPOSE_FILE, STACK_COMPOSE_FILE, APP_OVERRIDE_FILE)
LAYERS = ("stack", "full")
PROMETHEUS_TARGETS = ROOT / "prometheus" / "targets"
ENV_FILE = ROOT / ".env"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
STACK_DOC = ROOT / "docs" / "stack.md"
COLLECTOR_CONFIG = ROOT / "otel-collector" / "config.yaml"
PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
LOKI_CONFIG = ROOT / "loki" / "config.yaml"
TEMPO_CONFIG = ROOT / "tempo" / "tempo.yaml"
GRAFANA_DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources"
GRAFANA_DASHBOARD_PROVIDERS = ROOT / "grafana" / "provisioning" / "dashboards"
GRAFANA_DASHBOARDS = ROOT / "grafana" / "dashboards"
DATA = Path(__file__).parent / "data"

Problems = list[str]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_env(path: Path = ENV_FILE) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments and blank lines skipped)."""
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not KEY=VALUE: {raw!r}")
        env[key.strip()] = value.strip()
    return env


# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}, ${NAME:+x}; $$ escapes.
_VAR = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")


def compose_variables(text: str) -> Iterator[tuple[str, str]]:
    """(name, operator) of every ${...} interpolation in a compose file ('' for plain)."""
    for match in _VAR.finditer(text):
        yield match["name"], match["op"] or ""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Enough of compose interpolation for the tests: values from `env`, defaults honoured."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"]
        if name in env and (env[name] or ":" not in op):
            return env[name] if "+" not in op else arg
        if op in {":-", "-"}:
            return arg
        return f"<unset:{name}>"

    return _VAR.sub(replace, text).replace("$$", "$")


def load_compose(
    env: Mapping[str, str] | None = None, layer: str = "full", *, interpolated: bool = True
) -> dict[str, Any]:
    """The model compose runs, with variables from .env (and `env`) substituted.

    ``layer`` "full" is compose.yaml with its ``include`` resolved (the stack plus the app);
    "stack" is compose.observability.yaml alone. ``interpolated=False`` keeps ``${...}`` as
    written (the image pins are checked that way)."""
    values = {**load_env(), **(env or {})}

    def parse(path: Path) -> dict[str, Any]:
        text = path.read_text()
        return yaml.safe_load(interpolate(text, values) if interpolated else text)

    if layer == "stack":
        return parse(STACK_COMPOSE_FILE)
    if layer != "full":
        raise ValueError(f"unknown layer {layer!r}; one of {LAYERS}")
    model = parse(COMPOSE_FILE)
    for entry in model.pop("include", None) or []:
        paths = entry if isinstance(entry, str) else entry["path"]
        paths = [paths] if isinstance(paths, str) else list(paths)
        included = parse(ROOT / paths[0])
        for override in paths[1:]:
            included = merge_override(included, parse(ROOT / override))
        import_resources(included, model)
    return model


# compose-go override/merge.go: mappings merge key by key, lists append, these are replaced.
_REPLACED_ON_MERGE = ("command", "entrypoint", "test")


def merge_override(base: Any, override: Any, key: str = "") -> Any:
    """``override`` applied to ``base`` as Compose merges an override file (enough for the
    stack's override: mappings merge, sequences append, a command or healthcheck test is
    replaced). Raises on a type clash, as compose does ("cannot override")."""
    if key in _REPLACED_ON_MERGE:
        return override
    if isinstance(base, dict):
        if not isinstance(override, dict):
            raise ValueError(f"cannot override {key}")
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge_override(base[name], value, name) if name in base else value
        return merged
    if isinstance(base, list):
        if not isinstance(override, list):
            raise ValueError(f"cannot override {key}")
        return [*base, *override]
    return override


def import_resources(source: Mapping[str, Any], target: dict[str, Any]) -> None:
    """compose-go loader/include.go ``importResources``: the included model's services, volumes,
    networks, secrets and configs are copied in; the same name with another definition is an
    error, never a merge."""
    for key in ("services", "volumes", "networks", "secrets", "configs"):
        found = source.get(key)
        if not found:
            continue
        into = target.get(key) or {}
        for name, definition in found.items():
            if name in into and into[name] != definition:
                raise ValueError(f"{key}.{name} conflicts with imported resource")
            into[name] = definition
        target[key] = into


def prometheus_job_targets(
    job: Mapping[str, Any], compose: Mapping[str, Any], root: Path = ROOT
) -> list[str]:
    """The targets Prometheus finds for ``job`` in a compose model: its static targets, plus
    those of each file_sd file that the model's prometheus service mounts (a file it does not
    mount gives none, as Prometheus's glob over a missing path does)."""
    targets = [t for static in job.get("static_configs") or [] for t in static["targets"]]
    mounts: dict[str, Path] = {}
    for volume in compose["services"]["prometheus"].get("volumes") or []:
        source, _, rest = str(volume).partition(":")
        if source.startswith("."):
            mounts[rest.split(":", 1)[0]] = root / source
    for sd in job.get("file_sd_configs") or []:
        for pattern in sd["files"]:
            host = mounts.get(pattern)
            if host is None:
                continue
            for group in load_yaml(host) or []:
                targets += group["targets"]
    return targets


# ---------------------------------------------------------------------------------------------
# docs/architecture.md: the names contract


def architecture_services() -> dict[str, dict[str, Any]]:
    """The Services table: compose service -> ports in the network and published host ports."""
    services: dict[str, dict[str, Any]] = {}
    in_table = False
    for line in ARCHITECTURE.read_text().splitlines():
        if line.startswith("| compose service"):
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            break
        if not in_table or line.startswith("|---"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name = cells[0].strip("`")
        services[name] = {
            "network_ports": {int(p) for p in re.findall(r"\b(\d{2,5})\b", cells[3])},
            "published": set(re.findall(r"127\.0\.0\.1:(\d+)", cells[4])),
        }
    return services


def architecture_jobs() -> set[str]:
    text = ARCHITECTURE.read_text()
    section = text.split("## Prometheus scrape jobs", 1)[1].split("##", 1)[0]
    first_paragraph = section.split("Rule files", 1)[0]
    return set(re.findall(r"`([a-z-]+)`", first_paragraph)) - {"job"}


# ---------------------------------------------------------------------------------------------
# compose checks


def published_ports(service: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    """(host_ip, published port) for each entry of `ports`, short or long syntax."""
    for entry in service.get("ports", []) or []:
        if isinstance(entry, dict):
            yield entry.get("host_ip"), str(entry.get("published", ""))
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            yield parts[0].strip("[]"), parts[1]
        elif len(parts) == 2:
            yield None, parts[0]
        else:
            yield None, parts[0]  # container port only: published on a random host port


def check_ports_loopback(compose: Mapping[str, Any]) -> Problems:
    problems = []
    for name, service in compose["services"].items():
        for host_ip, port in published_ports(service):
            if host_ip != "127.0.0.1":
                where = host_ip or "all interfaces"
                problems.append(f"{name}: port {port} is published on {where}")
    return problems


def check_healthchecks(compose: Mapping[str, Any]) -> Problems:
    """A healthcheck on every service, or a written reason (x-healthcheck-exempt)."""
    problems = []
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        reason = str(service.get("x-healthcheck-exempt", "")).strip()
        if check and not check.get("disable") and check.get("test"):
            if reason:
                problems.append(f"{name}: has a healthcheck and an exemption; drop one")
            continue
        if not reason:
            problems.append(f"{name}: no healthcheck and no x-healthcheck-exempt reason")
    return problems


def one_shot_services(compose: Mapping[str, Any]) -> set[str]:
    return {n for n, s in compose["services"].items() if str(s.get("restart")) == "no"}


def check_dependencies(compose: Mapping[str, Any]) -> Problems:
    """Long-form depends_on with conditions that the dependency can actually reach."""
    problems = []
    services = compose["services"]
    one_shots = one_shot_services(compose)
    adopted: set[str] = set()
    for name, service in services.items():
        depends = service.get("depends_on", {}) or {}
        if isinstance(depends, list):
            problems.append(f"{name}: depends_on is a list; give each a condition")
            continue
        for dep, spec in depends.items():
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
                continue
            condition = (spec or {}).get("condition")
            if dep in one_shots:
                adopted.add(dep)
                if condition != "service_completed_successfully":
                    problems.append(
                        f"{name}: one-shot {dep} needs condition service_completed_successfully"
                    )
            elif condition == "service_healthy" and not services[dep].get("healthcheck"):
                problems.append(f"{name}: waits for {dep} to be healthy, but it has no healthcheck")
            elif condition not in {"service_healthy", "service_started"}:
                problems.append(f"{name}: depends on {dep} with condition {condition!r}")
    # `docker compose up --wait` fails on an exited container nobody adopted.
    for lonely in sorted(one_shots - adopted):
        problems.append(f"{lonely}: one-shot service that no service waits for")
    return problems


def check_limits_and_restart(compose: Mapping[str, Any]) -> Problems:
    problems = []
    for name, service in compose["services"].items():
        limit = service.get("mem_limit") or (
            ((service.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory")
        )
        if not limit:
            problems.append(f"{name}: no memory limit")
        if "restart" not in service:
            problems.append(f"{name}: no restart policy")
    return problems


def check_images_pinned(raw_compose: Mapping[str, Any], env: Mapping[str, str]) -> Problems:
    """Every image is ${X_IMAGE}:${X_TAG} with both set in .env and a real tag."""
    problems = []
    for name, service in raw_compose["services"].items():
        image = service.get("image")
        if not image:
            problems.append(f"{name}: no image")
            continue
        match = re.fullmatch(r"\$\{(\w+_IMAGE)\}:\$\{(\w+_TAG)\}", str(image))
        if not match:
            problems.append(f"{name}: image {image!r} is not ${{X_IMAGE}}:${{X_TAG}} from .env")
            continue
        repo, tag = env.get(match[1], ""), env.get(match[2], "")
        if not repo or not tag:
            problems.append(f"{name}: {match[1]} or {match[2]} missing from .env")
        elif tag in {"latest", "main", "master", "edge", "nightly"} or not re.search(r"\d", tag):
            problems.append(f"{name}: tag {tag!r} is not a pinned version")
    return problems


def bind_mount_sources(compose: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(service, host path) of every bind mount; named volumes are skipped."""
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []) or []:
            if isinstance(volume, dict):
                if volume.get("type") == "bind":
                    yield name, str(volume["source"])
                continue
            source = str(volume).split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                yield name, source
        build = service.get("build")
        if build:
            context = build if isinstance(build, str) else build.get("context", ".")
            yield name, context
            if isinstance(build, dict) and build.get("dockerfile"):
                yield name, str(Path(context) / build["dockerfile"])


def check_mounts_exist(compose: Mapping[str, Any], root: Path = ROOT) -> Problems:
    return [
        f"{name}: mounts {source}, which does not exist"
        for name, source in bind_mount_sources(compose)
        if not (root / source).exists()
    ]


# ---------------------------------------------------------------------------------------------
# collector checks

# Component types the pipelines may use, checked against the otelcol-contrib 0.159 distribution
# (opentelemetry-collector-releases distributions/otelcol-contrib/manifest.yaml) and the 0.144
# renames (otlp -> otlp_grpc, otlphttp -> otlp_http; the old names are deprecated aliases).
COLLECTOR_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch", "attributes", "redaction", "resource", "transform"},
    "exporters": {"otlp_grpc", "otlp_http", "debug"},
    "extensions": {"health_check", "pprof", "zpages"},
    "connectors": set(),
}
DEPRECATED_COLLECTOR_TYPES = {"otlp": "otlp_grpc", "otlphttp": "otlp_http", "logging": "debug"}
COLLECTOR_TOP_LEVEL = {
    "receivers", "processors", "exporters", "extensions", "connectors", "service",
}  # fmt: skip


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def check_collector_pipelines(config: Mapping[str, Any]) -> Problems:
    """Pipelines use only defined components, every defined component is used, and the order
    and back-pressure settings are the ones the stack relies on."""
    problems = []
    for key in config:
        if key not in COLLECTOR_TOP_LEVEL:
            problems.append(f"unknown top-level key {key!r}")
    service = config.get("service", {})
    pipelines = service.get("pipelines", {}) or {}
    used: dict[str, set[str]] = {kind: set() for kind in ("receivers", "processors", "exporters")}
    for pipeline_id, pipeline in pipelines.items():
        for kind, seen in used.items():
            for component in pipeline.get(kind, []) or []:
                seen.add(component)
                if component not in (config.get(kind) or {}):
                    problems.append(
                        f"pipeline {pipeline_id} uses undefined {kind[:-1]} {component}"
                    )
        processors = pipeline.get("processors", []) or []
        if not processors or component_type(processors[0]) != "memory_limiter":
            problems.append(f"pipeline {pipeline_id}: memory_limiter is not the first processor")
        if not any(component_type(p) == "batch" for p in processors):
            problems.append(f"pipeline {pipeline_id}: no batch processor")
        if not any(component_type(p) in {"redaction", "attributes"} for p in processors):
            problems.append(f"pipeline {pipeline_id}: no redaction step")
    for kind, names in used.items():
        for defined in config.get(kind) or {}:
            if defined not in names:
                problems.append(f"{kind[:-1]} {defined} is defined but used by no pipeline")
    extensions = set(service.get("extensions", []) or [])
    for defined in config.get("extensions") or {}:
        if defined not in extensions:
            problems.append(f"extension {defined} is defined but not enabled in service")
    for enabled in extensions - set(config.get("extensions") or {}):
        problems.append(f"service enables undefined extension {enabled}")
    for kind, known in COLLECTOR_TYPES.items():
        for component in config.get(kind) or {}:
            ctype = component_type(component)
            if kind == "exporters" and ctype in DEPRECATED_COLLECTOR_TYPES:
                new_name = DEPRECATED_COLLECTOR_TYPES[ctype]
                problems.append(f"exporter {component}: deprecated name, use {new_name}")
            elif ctype not in known:
                problems.append(f"{kind[:-1]} {component}: type {ctype!r} not in the checked list")
    for exporter_id, exporter in (config.get("exporters") or {}).items():
        for setting in ("sending_queue", "retry_on_failure"):
            if not ((exporter or {}).get(setting) or {}).get("enabled"):
                problems.append(f"exporter {exporter_id}: {setting} is not enabled")
    limiter = (config.get("processors") or {}).get("memory_limiter") or {}
    if "check_interval" not in limiter or not (
        "limit_mib" in limiter or "limit_percentage" in limiter
    ):
        problems.append("memory_limiter needs check_interval and limit_mib or limit_percentage")
    return problems


def endpoint_hostport(value: str) -> tuple[str, int]:
    """host and port of `http://host:port/path` or `host:port`."""
    parts = urlsplit(value if "//" in value else f"//{value}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"no host:port in {value!r}")
    return parts.hostname, parts.port


# ---------------------------------------------------------------------------------------------
# Grafana checks

SPECIAL_DATASOURCE_UIDS = {"grafana", "-- Grafana --", "-- Mixed --", "-- Dashboard --"}


def provisioned_datasources() -> list[dict[str, Any]]:
    datasources: list[dict[str, Any]] = []
    for path in sorted(GRAFANA_DATASOURCES.glob("*.y*ml")):
        datasources.extend(load_yaml(path).get("datasources", []) or [])
    return datasources


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every node in nested dicts and lists."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def referenced_datasource_uids(node: Any) -> Iterator[tuple[str, str]]:
    """(where, uid) of datasourceUid keys and {"datasource": {"uid": ...}} objects."""
    for path, value in walk(node):
        if not isinstance(value, dict):
            continue
        uid = value.get("datasourceUid")
        if isinstance(uid, str):
            yield path, uid
        datasource = value.get("datasource")
        if isinstance(datasource, dict) and isinstance(datasource.get("uid"), str):
            yield f"{path}.datasource", datasource["uid"]


def check_datasource_references(node: Any, defined: set[str]) -> Problems:
    problems = []
    for where, uid in referenced_datasource_uids(node):
        if uid in defined or uid in SPECIAL_DATASOURCE_UIDS or uid.startswith("$"):
            continue
        problems.append(f"{where}: datasource uid {uid!r} is not provisioned")
    return problems


# A `$` in Grafana provisioning starts an environment variable unless written `$$`.
_GRAFANA_ENV_REF = re.compile(r"(?<!\$)\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)")


def check_grafana_dollar_escaping(node: Any, allowed_env: frozenset[str] = frozenset()) -> Problems:
    """Every `$` in a provisioned value must be `$$` unless it names an environment variable the
    container has (Grafana expands $VAR and ${VAR} in provisioning values)."""
    problems = []
    for path, value in walk(node):
        if not isinstance(value, str):
            continue
        for match in _GRAFANA_ENV_REF.finditer(value.replace("$$", "")):
            name = match[1].strip("{}")
            if name not in allowed_env:
                problems.append(f"{path}: unescaped ${match[1]} (write $$ for a literal $)")
    return problems


# ---------------------------------------------------------------------------------------------
# Loki / Tempo key paths


def load_key_list(name: str) -> set[str]:
    lines = (DATA / f"{name}-keys.txt").read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def config_key_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Key paths of a config in the notation of data/*-keys.txt (lists of maps as [])."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from config_key_paths(value, path)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                yield from config_key_paths(item, prefix + "[]")


def check_key_paths(config: Any, known: set[str], extra: Mapping[str, str]) -> Problems:
    """Every key path of `config` is in the dump's key list (or in `extra`, with a source)."""
    problems = []
    for path in config_key_paths(config):
        if path in known or path in extra:
            continue
        parent = path.rsplit(".", 1)[0]
        if f"{parent}{{*}}" in known:
            continue
        problems.append(f"{path}: not a key of the pinned version")
    return problems

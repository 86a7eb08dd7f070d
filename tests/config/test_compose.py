"""The compose files: schema, mounts, pinned images, healthchecks, loopback ports, secrets.

Two ways to run them, both checked: the stack alone (compose.observability.yaml) and the stack
with the app (compose.yaml, which includes the stack and applies compose.observability.app.yaml
to it)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.config import stackfiles as sf

SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
# Optional values for secrets created on first start; nothing else may have an inline default.
SECRET_OVERRIDES = {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "ADMIN_TOKEN"}
SECRET_FILES = {"postgres_password", "grafana_admin_password", "admin_token"}
SECRETS_DIR = "/run/stack-secrets"
APP_SERVICES = {"api", "api-canary", "tagger", "alert-receiver", "migrate", "loadgen", "secrets"}
# What the stack alone runs; everything else is the sample app's (compose.yaml).
STACK_SERVICES = {
    "secrets", "alert-receiver", "otel-collector", "prometheus", "alertmanager", "init-volumes",
    "loki", "tempo", "grafana",
}  # fmt: skip
TRAINER_SERVICES = {"api", "api-canary", "tagger", "alert-receiver"}
FAKE_SECRETS: dict[str, str] = {}


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    """The stack with the app as written, before interpolation."""
    return sf.load_compose(layer="full", interpolated=False)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml with .env (and stand-in secrets) substituted, as compose would see it."""
    return sf.load_compose(FAKE_SECRETS)


@pytest.fixture(scope="module", params=sf.LAYERS)
def layer(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each way to run the files: the stack alone, then the stack with the app."""
    return sf.load_compose(FAKE_SECRETS, layer=request.param)


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return sf.load_env()


def schema_errors(document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


# --- schema --------------------------------------------------------------------------------


def test_each_way_to_run_matches_the_compose_specification(layer: dict[str, Any]) -> None:
    assert schema_errors(layer) == []


@pytest.mark.parametrize("path", sf.COMPOSE_FILES, ids=lambda p: p.name)
def test_each_file_as_written_matches_the_compose_specification(path: Path) -> None:
    # compose.yaml with its `include`, and the override file on its own.
    document = yaml.safe_load(sf.interpolate(path.read_text(), sf.load_env()))
    assert schema_errors(document) == []


def test_schema_check_rejects_a_misspelled_include() -> None:
    document = yaml.safe_load(sf.COMPOSE_FILE.read_text())
    document["include"][0]["paths"] = document["include"][0].pop("path")
    assert any("paths" in error for error in schema_errors(document))


# --- the layers ------------------------------------------------------------------------------


def test_the_stack_alone_runs_no_app_service() -> None:
    stack = sf.load_compose(layer="stack")
    assert set(stack["services"]) == STACK_SERVICES
    full = sf.load_compose(layer="full")
    assert set(full["services"]) - STACK_SERVICES == {
        "postgres", "migrate", "api", "api-canary", "tagger", "loadgen",
    }  # fmt: skip


def test_compose_yaml_includes_the_stack_with_the_app_override_only() -> None:
    raw = sf.load_yaml(sf.COMPOSE_FILE)
    assert raw["include"] == [
        {"path": ["compose.observability.yaml", "compose.observability.app.yaml"]}
    ]
    # The stack's services are defined in its file only: include refuses a second definition.
    assert not set(raw["services"]) & set(sf.load_yaml(sf.STACK_COMPOSE_FILE)["services"])
    # One project either way, so the stack alone and with the app share volumes and secrets.
    assert raw["name"] == sf.load_yaml(sf.STACK_COMPOSE_FILE)["name"] == "loan-desk"


def test_the_app_override_only_adds_its_scrape_target_files_to_prometheus() -> None:
    override = sf.load_yaml(sf.APP_OVERRIDE_FILE)
    assert list(override) == ["services"]
    assert list(override["services"]) == ["prometheus"]
    assert list(override["services"]["prometheus"]) == ["volumes"]
    stack = sf.load_compose(layer="stack")["services"]["prometheus"]["volumes"]
    full = sf.load_compose(layer="full")["services"]["prometheus"]["volumes"]
    added = override["services"]["prometheus"]["volumes"]
    assert full == stack + added  # appended: the stack's own mounts stay
    assert added == [
        "./prometheus/targets/api.yml:/etc/prometheus/api.targets.yml:ro",
        "./prometheus/targets/tagger.yml:/etc/prometheus/tagger.targets.yml:ro",
    ]


def test_the_stack_alone_depends_on_nothing_of_the_app() -> None:
    stack = sf.load_compose(layer="stack")
    for name, service in stack["services"].items():
        assert set(service.get("depends_on") or {}) <= STACK_SERVICES, name


@pytest.mark.parametrize("anchor", ["x-app", "x-app-env", "x-trainer-env"])
def test_the_anchors_both_files_repeat_are_the_same(anchor: str) -> None:
    # YAML anchors do not cross files: the app image and its telemetry settings are written in
    # both, and must not drift apart.
    assert sf.load_yaml(sf.COMPOSE_FILE)[anchor] == sf.load_yaml(sf.STACK_COMPOSE_FILE)[anchor]


def test_include_check_refuses_a_service_defined_twice() -> None:
    target = {"services": {"grafana": {"image": "a"}}}
    with pytest.raises(ValueError, match=r"services\.grafana conflicts"):
        sf.import_resources({"services": {"grafana": {"image": "b"}}}, target)
    sf.import_resources({"services": {"grafana": {"image": "a"}}}, target)  # the same: fine


def test_override_merge_appends_lists_and_replaces_commands() -> None:
    base = {"services": {"p": {"volumes": ["a"], "command": ["x"], "environment": {"A": "1"}}}}
    override = {"services": {"p": {"volumes": ["b"], "command": ["y"], "environment": {"B": "2"}}}}
    assert sf.merge_override(base, override) == {
        "services": {
            "p": {"volumes": ["a", "b"], "command": ["y"], "environment": {"A": "1", "B": "2"}}
        }
    }


def test_schema_check_rejects_a_misspelled_key(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["api"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["grafana"]["port"] = ["3000:3000"]
    errors = schema_errors(broken)
    assert any("intervall" in error for error in errors)
    assert any("'port'" in error for error in errors)


# --- services match the names contract ------------------------------------------------------


def test_every_service_of_the_architecture_exists(compose: dict[str, Any]) -> None:
    assert set(sf.architecture_services()) <= set(compose["services"])


def test_services_outside_the_architecture_are_one_shot_helpers(compose: dict[str, Any]) -> None:
    extra = set(compose["services"]) - set(sf.architecture_services())
    assert extra <= sf.one_shot_services(compose), extra


def test_published_ports_are_exactly_the_documented_ones(compose: dict[str, Any]) -> None:
    for name, contract in sf.architecture_services().items():
        published = {port for _, port in sf.published_ports(compose["services"][name])}
        assert published == contract["published"], name


# --- ports ----------------------------------------------------------------------------------


def test_no_port_is_published_on_all_interfaces(layer: dict[str, Any]) -> None:
    assert sf.check_ports_loopback(layer) == []


@pytest.mark.parametrize(
    "ports",
    [["8000:8000"], ["0.0.0.0:8000:8000"], ["8000"], [{"target": 8000, "published": "8000"}]],
)
def test_port_check_flags_ports_open_to_the_network(ports: list[Any]) -> None:
    broken = {"services": {"api": {"ports": ports}}}
    assert sf.check_ports_loopback(broken) != []


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sf.LAYERS)
def test_every_image_is_pinned_in_dot_env(name: str, env: dict[str, str]) -> None:
    raw = sf.load_compose(layer=name, interpolated=False)
    assert sf.check_images_pinned(raw, env) == []


@pytest.mark.parametrize(
    ("image", "env"),
    [
        ("grafana/grafana:13.2.1", {}),
        ("${GRAFANA_IMAGE}:${GRAFANA_TAG}", {"GRAFANA_IMAGE": "grafana/grafana"}),
        ("${GRAFANA_IMAGE}:${GRAFANA_TAG}", {"GRAFANA_IMAGE": "g/g", "GRAFANA_TAG": "latest"}),
        ("${GRAFANA_IMAGE}", {"GRAFANA_IMAGE": "grafana/grafana:13.2.1"}),
    ],
)
def test_image_check_flags_unpinned_images(image: str, env: dict[str, str]) -> None:
    assert sf.check_images_pinned({"services": {"grafana": {"image": image}}}, env) != []


def test_app_services_share_one_image_built_from_the_root_dockerfile(
    compose: dict[str, Any],
) -> None:
    images = {compose["services"][name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        build = compose["services"][name]["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == "Dockerfile"


def test_the_root_dockerfile_exists() -> None:
    assert (sf.ROOT / "Dockerfile").is_file(), "compose builds the app image from ./Dockerfile"


# --- mounts ---------------------------------------------------------------------------------


def test_every_bind_mount_exists(layer: dict[str, Any]) -> None:
    mounts_only = copy.deepcopy(layer)
    for service in mounts_only["services"].values():
        service.pop("build", None)  # the Dockerfile has its own test above
    assert sf.check_mounts_exist(mounts_only) == []


def test_mount_check_flags_a_missing_path() -> None:
    broken = {"services": {"loki": {"volumes": ["./loki/nope.yaml:/etc/loki/config.yaml:ro"]}}}
    assert sf.check_mounts_exist(broken) == ["loki: mounts ./loki/nope.yaml, which does not exist"]


def test_config_mounts_are_read_only_and_data_lives_in_named_volumes(
    compose: dict[str, Any], layer: dict[str, Any]
) -> None:
    declared = set(layer.get("volumes") or {})
    for name, service in layer["services"].items():
        for volume in service.get("volumes", []) or []:
            source, _, rest = str(volume).partition(":")
            if source.startswith("."):
                assert rest.endswith(":ro"), f"{name}: {volume} should be read-only"
            else:
                assert source in declared, f"{name}: {source} is not a declared named volume"
    for name in ("postgres", "prometheus", "alertmanager", "loki", "tempo", "grafana"):
        named = [v for v in compose["services"][name]["volumes"] if not str(v).startswith(".")]
        assert named, f"{name} keeps its data outside a named volume"


# --- health, dependencies, limits -----------------------------------------------------------


def test_every_service_has_a_healthcheck_or_a_written_reason(layer: dict[str, Any]) -> None:
    assert sf.check_healthchecks(layer) == []


def test_healthcheck_check_flags_a_silent_gap() -> None:
    broken = {"services": {"tempo": {"image": "x"}, "loki": {"healthcheck": {"disable": True}}}}
    assert len(sf.check_healthchecks(broken)) == 2


def test_only_the_shell_less_collector_and_one_shot_jobs_are_exempt(
    layer: dict[str, Any],
) -> None:
    exempt = {n for n, s in layer["services"].items() if s.get("x-healthcheck-exempt")}
    assert exempt == {"otel-collector"} | sf.one_shot_services(layer)


def test_dependencies_use_conditions_their_targets_can_reach(layer: dict[str, Any]) -> None:
    # Alone, the stack must not wait for a service only the app runs (unknown service).
    assert sf.check_dependencies(layer) == []


def test_dependency_check_flags_unreachable_conditions() -> None:
    broken = {
        "services": {
            "migrate": {"restart": "no"},
            "collector": {},
            "orphan-job": {"restart": "no"},
            "api": {
                "depends_on": {
                    "migrate": {"condition": "service_healthy"},
                    "collector": {"condition": "service_healthy"},
                }
            },
            "tagger": {"depends_on": ["api"]},
        }
    }
    problems = sf.check_dependencies(broken)
    assert len(problems) == 4, problems


def test_api_waits_for_the_migration_and_the_database(compose: dict[str, Any]) -> None:
    depends = compose["services"]["api"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_every_service_has_a_memory_limit_and_a_restart_policy(layer: dict[str, Any]) -> None:
    assert sf.check_limits_and_restart(layer) == []


def test_limit_check_flags_a_service_without_either() -> None:
    assert len(sf.check_limits_and_restart({"services": {"api": {}}})) == 2


# --- the app services -----------------------------------------------------------------------


def test_app_commands_and_telemetry_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["loan-api", "migrate"]
    assert services["api"]["command"] == [
        "loan-api", "serve", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip
    assert services["tagger"]["command"] == [
        "doc-tagger", "serve", "--host", "0.0.0.0", "--port", "8001",
    ]  # fmt: skip
    assert services["alert-receiver"]["command"] == [
        "alert-receiver", "serve", "--host", "0.0.0.0", "--port", "8003",
    ]  # fmt: skip
    assert services["loadgen"]["command"] == ["loadgen"]
    assert services["loadgen"]["environment"]["LOADGEN_API_URL"] == "http://api:8000"
    for name, service_name in (
        ("api", "loan-api"),
        ("tagger", "doc-tagger"),
        ("alert-receiver", "alert-receiver"),
    ):
        environment = services[name]["environment"]
        assert environment["OTEL_SERVICE_NAME"] == service_name
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert environment["OTEL_SEMCONV_STABILITY_OPT_IN"] == "http"
        assert environment["LOG_FORMAT"] == "json"
        assert "deployment.environment.name=" in environment["OTEL_RESOURCE_ATTRIBUTES"]
    assert services["api"]["environment"]["TAGGER_URL"] == "http://tagger:8001"
    assert (
        services["api"]["environment"]["DATABASE_URL"]
        == "postgresql+asyncpg://loan@postgres:5432/loan"
    )


def test_the_canary_is_the_api_with_another_version(
    compose: dict[str, Any], env: dict[str, str]
) -> None:
    api, canary = compose["services"]["api"], compose["services"]["api-canary"]
    assert canary["command"] == api["command"]
    assert canary["image"] == api["image"]
    assert canary["environment"].pop("SERVICE_VERSION") == env["CANARY_VERSION"]
    assert "SERVICE_VERSION" not in api["environment"]
    assert canary["environment"] == api["environment"]  # same name, database, tagger, trainer
    assert env["CANARY_VERSION"] != env["APP_TAG"]
    loadgen = compose["services"]["loadgen"]["environment"]
    assert loadgen["LOADGEN_CANARY_URL"] == "http://api-canary:8000"
    assert 0 < float(loadgen["LOADGEN_CANARY_SHARE"]) < 0.5


def test_trainer_mode_reads_its_token_from_the_secrets_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    token_file = f"{SECRETS_DIR}/admin_token"
    for name in TRAINER_SERVICES:
        environment = services[name]["environment"]
        assert environment["ADMIN_ENABLED"] == "true", name
        assert environment["ADMIN_TOKEN_FILE"] == token_file, name
        assert "ADMIN_TOKEN" not in environment, name
        assert f"secrets:{SECRETS_DIR}:ro" in services[name]["volumes"], name
    assert services["loadgen"]["environment"]["LOADGEN_ADMIN_TOKEN_FILE"] == token_file
    assert f"secrets:{SECRETS_DIR}:ro" in services["loadgen"]["volumes"]
    # Nothing else gets trainer mode or the token.
    others = set(services) - TRAINER_SERVICES - {"loadgen", "secrets"}
    for name in others:
        assert "ADMIN_ENABLED" not in (services[name].get("environment") or {}), name


# --- variables and secrets ------------------------------------------------------------------


@pytest.mark.parametrize("path", sf.COMPOSE_FILES, ids=lambda p: p.name)
def test_every_variable_is_set_in_dot_env(path: Path, env: dict[str, str]) -> None:
    text = path.read_text()
    for name, op in sf.compose_variables(text):
        if name in SECRET_OVERRIDES:
            assert op == ":-", f"${{{name}}} is an optional override: write ${{{name}:-}}"
            continue
        assert name in env, f"${{{name}}} is used in compose.yaml but not set in .env"
        assert op == "", f"${{{name}}} has an inline default; keep the value in .env only"


def test_secrets_are_generated_files_never_defaults(env: dict[str, str]) -> None:
    assert not SECRET_OVERRIDES & set(env), "secrets must not be committed to .env"
    assert not [key for key in env if "PASSWORD" in key or "SECRET" in key]
    # A fresh clone with nothing exported resolves: `docker compose up` needs no set-up.
    compose = sf.load_compose(layer="full")
    services = compose["services"]
    # The job lives with the stack, where Grafana needs its password; the app reads its own.
    assert "secrets" in sf.load_compose(layer="stack")["services"]
    generator = services["secrets"]
    assert generator["command"][:4] == ["python", "-m", "servicekit.secrets_init", SECRETS_DIR]
    assert set(generator["command"][4:]) == SECRET_FILES
    # `${X:-}` with nothing exported: an empty value (YAML reads it as null), so a random one.
    assert set(generator["environment"]) == SECRET_OVERRIDES
    assert all(value in (None, "") for value in generator["environment"].values())

    file_variables = {
        "postgres": ("POSTGRES_PASSWORD_FILE", "postgres_password"),
        "grafana": ("GF_SECURITY_ADMIN_PASSWORD__FILE", "grafana_admin_password"),
        "api": ("DATABASE_PASSWORD_FILE", "postgres_password"),
        "migrate": ("DATABASE_PASSWORD_FILE", "postgres_password"),
    }
    for service, (variable, secret) in file_variables.items():
        definition = services[service]
        assert definition["environment"][variable] == f"{SECRETS_DIR}/{secret}", service
        assert f"secrets:{SECRETS_DIR}:ro" in definition["volumes"], service
        assert definition["depends_on"].get("secrets", {}).get("condition") in (
            "service_completed_successfully",
            None,
        ), service
        for name, value in definition["environment"].items():
            if "PASSWORD" in name and not name.endswith("_FILE"):
                raise AssertionError(f"{service} sets {name} directly: {value!r}")
    for service in ("postgres", "grafana"):
        assert services[service]["depends_on"]["secrets"]["condition"] == (
            "service_completed_successfully"
        )
    assert "@" in services["api"]["environment"]["DATABASE_URL"]
    assert ":" not in services["api"]["environment"]["DATABASE_URL"].split("//")[1].split("@")[0]


# --- Alertmanager ----------------------------------------------------------------------------


def test_alertmanager_keeps_its_state_and_links_back_to_its_published_port(
    compose: dict[str, Any],
) -> None:
    # Flag names: prometheus/alertmanager cmd/alertmanager/main.go (kingpin flags).
    service = compose["services"]["alertmanager"]
    flags = dict(flag.split("=", 1) for flag in service["command"])
    assert flags == {
        "--config.file": "/etc/alertmanager/alertmanager.yml",
        "--storage.path": "/alertmanager",
        "--web.external-url": "http://localhost:9093",
        "--cluster.listen-address": "",
    }
    assert (
        "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"
        in (service["volumes"])
    )
    assert "alertmanager-data:/alertmanager" in service["volumes"]
    published = {port for _, port in sf.published_ports(service)}
    assert flags["--web.external-url"].endswith(f":{published.pop()}")
    # The busybox-based image's wget, against the route ui/web.go registers.
    assert service["healthcheck"]["test"] == [
        "CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9093/-/ready",
    ]  # fmt: skip
    assert service["depends_on"] == {"alert-receiver": {"condition": "service_healthy"}}
    # Prometheus keeps evaluating rules while Alertmanager is down: it must not wait for it.
    assert "alertmanager" not in compose["services"]["prometheus"].get("depends_on", {})


def test_alertmanager_is_pinned_to_a_release_tag(env: dict[str, str]) -> None:
    assert env["ALERTMANAGER_IMAGE"] == "prom/alertmanager"
    # The unsuffixed tag is the busybox variant the healthcheck needs (not "-distroless").
    assert re.fullmatch(r"v\d+\.\d+\.\d+", env["ALERTMANAGER_TAG"]), env["ALERTMANAGER_TAG"]


def test_alertmanager_sends_to_the_receiver_the_stack_runs(compose: dict[str, Any]) -> None:
    config = sf.load_yaml(sf.ROOT / "alertmanager" / "alertmanager.yml")
    urls = [
        hook["url"]
        for receiver in config["receivers"]
        for hook in receiver.get("webhook_configs") or []
    ]
    assert "http://alert-receiver:8003/v1/notifications" in urls
    command = compose["services"]["alert-receiver"]["command"]
    assert command[command.index("--port") + 1] == "8003"


def test_grafana_is_read_only_for_anonymous_users(compose: dict[str, Any]) -> None:
    environment = compose["services"]["grafana"]["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment


def test_env_file_is_plain_key_value() -> None:
    # The scripts `source` it and compose reads it: no quoting tricks, no exports.
    for line in sf.ENV_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key.isupper(), line
            assert key.replace("_", "").isalnum(), line
            assert not any(c in value for c in "'\"$ `"), line


@pytest.mark.parametrize("path", sf.COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_loads_as_yaml_without_custom_tags(path: Path) -> None:
    yaml.safe_load(path.read_text())

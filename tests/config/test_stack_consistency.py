"""Cross-file consistency: collector pipelines, hosts and ports, datasource uids and links, and
Loki/Tempo key paths against the key dumps of real builds (tests/config/data/)."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from alert_receiver.notifications import alert_fields
from alert_receiver.payload import parse_notification
from tests.config import stackfiles as sf
from tests.support.alert_payloads import notification

FAKE_SECRETS: dict[str, str] = {}

# Keys tagged `omitempty` are missing from the dumps when false/empty. Each one we use is listed
# with where it was checked.
LOKI_KEYS_NOT_IN_DUMP = {
    # Loki docs, operations/authentication.md at v3.7.8: "Loki runs in multi-tenant mode by
    # default (auth_enabled: true)".
    "auth_enabled": "grafana/loki v3.7.8 docs/sources/operations/authentication.md",
}
TEMPO_KEYS_NOT_IN_DUMP: dict[str, str] = {}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return sf.load_compose(FAKE_SECRETS)


@pytest.fixture(scope="module")
def datasources() -> dict[str, dict[str, Any]]:
    return {ds["uid"]: ds for ds in sf.provisioned_datasources()}


def assert_reaches(url: str, service: str) -> None:
    """`url` points at `service` on a port the architecture says it listens on."""
    host, port = sf.endpoint_hostport(url)
    assert host == service, url
    assert port in sf.architecture_services()[service]["network_ports"], url


# --- collector ------------------------------------------------------------------------------


def test_collector_pipelines_are_complete_and_tidy(collector: dict[str, Any]) -> None:
    assert sf.check_collector_pipelines(collector) == []


def test_collector_has_traces_and_logs_pipelines(collector: dict[str, Any]) -> None:
    assert set(collector["service"]["pipelines"]) == {"traces", "logs"}


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda c: c["service"]["pipelines"]["traces"]["exporters"].append("otlp_grpc/nope"),
         "undefined exporter otlp_grpc/nope"),
        (lambda c: c["processors"].update({"batch/unused": {}}),
         "processor batch/unused is defined but used by no pipeline"),
        (lambda c: c["service"]["pipelines"]["logs"]["processors"].reverse(),
         "memory_limiter is not the first processor"),
        (lambda c: c["exporters"]["otlp_http/loki"].pop("retry_on_failure"),
         "retry_on_failure is not enabled"),
        (lambda c: c["exporters"].update({"otlphttp/old": {}}), "deprecated name"),
        (lambda c: c["extensions"].update({"pprof": {}}), "extension pprof is defined but not"),
        (lambda c: c["processors"]["memory_limiter"].pop("check_interval"), "check_interval"),
        (lambda c: c.update({"pipelines": {}}), "unknown top-level key 'pipelines'"),
    ],
)  # fmt: skip
def test_collector_check_flags_broken_configs(
    collector: dict[str, Any], breakage: Any, expected: str
) -> None:
    broken = copy.deepcopy(collector)
    breakage(broken)
    problems = sf.check_collector_pipelines(broken)
    assert any(expected in problem for problem in problems), problems


def test_collector_listens_where_the_architecture_says(collector: dict[str, Any]) -> None:
    protocols = collector["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert collector["extensions"]["health_check"]["endpoint"] == "0.0.0.0:13133"
    (reader,) = collector["service"]["telemetry"]["metrics"]["readers"]
    prometheus = reader["pull"]["exporter"]["prometheus"]
    assert prometheus["host"] == "0.0.0.0"
    ports = {4317, 4318, 13133, prometheus["port"]}
    assert ports == sf.architecture_services()["otel-collector"]["network_ports"]
    assert "address" not in collector["service"]["telemetry"]["metrics"]


def test_collector_exports_to_tempo_and_loki(collector: dict[str, Any], tempo: Any) -> None:
    exporters = collector["exporters"]
    assert_reaches(exporters["otlp_grpc/tempo"]["endpoint"], "tempo")
    tempo_grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert (
        sf.endpoint_hostport(exporters["otlp_grpc/tempo"]["endpoint"])[1]
        == (sf.endpoint_hostport(tempo_grpc)[1])
    )
    # Loki's native OTLP endpoint; the exporter appends /v1/logs.
    assert exporters["otlp_http/loki"]["endpoint"] == "http://loki:3100/otlp"
    assert_reaches(exporters["otlp_http/loki"]["endpoint"], "loki")


def test_apps_send_otlp_to_the_collectors_http_receiver(
    compose: dict[str, Any], collector: dict[str, Any]
) -> None:
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    http_port = sf.endpoint_hostport(http)
    for name in ("api", "tagger"):
        endpoint = compose["services"][name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert_reaches(endpoint, "otel-collector")
        assert sf.endpoint_hostport(endpoint)[1] == http_port[1]


def test_collector_health_port_matches_the_probe_in_stack_up() -> None:
    script = (sf.ROOT / "scripts" / "stack-up.sh").read_text()
    assert "http://otel-collector:13133/" in script


# --- Prometheus targets and remote write ----------------------------------------------------


def test_services_listen_on_the_ports_prometheus_scrapes(
    compose: dict[str, Any], loki: dict[str, Any], tempo: dict[str, Any]
) -> None:
    assert "--port" in compose["services"]["api"]["command"]
    api_port = compose["services"]["api"]["command"][-1]
    tagger_port = compose["services"]["tagger"]["command"][-1]
    assert (api_port, tagger_port) == ("8000", "8001")
    assert loki["server"]["http_listen_port"] == 3100
    assert tempo["server"]["http_listen_port"] == 3200
    for job in sf.load_yaml(sf.PROMETHEUS_CONFIG)["scrape_configs"]:
        # Static targets, or the app's file_sd files as compose.yaml mounts them.
        targets = sf.prometheus_job_targets(job, compose)
        assert targets, job["job_name"]
        if job["job_name"] != "prometheus":
            for target in targets:
                host = sf.endpoint_hostport(target)[0]
                canary = f"{job['job_name']}-canary"  # the api's canary, in the api's job
                assert_reaches(target, canary if host == canary else job["job_name"])


def test_tempo_remote_writes_to_prometheus_with_exemplars(tempo: dict[str, Any]) -> None:
    (remote,) = tempo["metrics_generator"]["storage"]["remote_write"]
    assert remote["url"] == "http://prometheus:9090/api/v1/write"
    assert remote["send_exemplars"] is True
    assert_reaches(remote["url"], "prometheus")
    processors = tempo["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert set(processors) == {"service-graphs", "span-metrics"}


# --- Grafana --------------------------------------------------------------------------------


def test_datasources_have_the_contract_uids_and_urls(
    datasources: dict[str, dict[str, Any]],
) -> None:
    assert set(datasources) == {"prometheus", "loki", "tempo", "alertmanager"}
    for uid, name in (
        ("prometheus", "Prometheus"),
        ("loki", "Loki"),
        ("tempo", "Tempo"),
        ("alertmanager", "Alertmanager"),
    ):
        assert datasources[uid]["name"] == name
        assert datasources[uid]["type"] == uid
        assert datasources[uid]["access"] == "proxy"
        assert_reaches(datasources[uid]["url"], uid)
    assert datasources["tempo"]["url"] == "http://tempo:3200"


def test_every_datasource_reference_in_provisioning_exists(
    datasources: dict[str, dict[str, Any]],
) -> None:
    assert sf.check_datasource_references(list(datasources.values()), set(datasources)) == []


def test_reference_check_flags_an_unknown_uid() -> None:
    node = {"jsonData": {"tracesToLogsV2": {"datasourceUid": "lokii"}}}
    assert sf.check_datasource_references(node, {"loki"}) != []


def test_dashboards_reference_only_provisioned_datasources(
    datasources: dict[str, dict[str, Any]],
) -> None:
    for path in sorted(sf.GRAFANA_DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        assert sf.check_datasource_references(dashboard, set(datasources)) == [], path.name


def test_dashboard_reference_check_flags_an_unknown_uid() -> None:
    dashboard = {"panels": [{"datasource": {"type": "prometheus", "uid": "PBFA97CFB590B2093"}}]}
    assert sf.check_datasource_references(dashboard, {"prometheus"}) != []


def test_dollar_signs_are_escaped_in_provisioning() -> None:
    for folder in (sf.GRAFANA_DATASOURCES, sf.GRAFANA_DASHBOARD_PROVIDERS):
        for path in sorted(folder.glob("*.y*ml")):
            assert sf.check_grafana_dollar_escaping(sf.load_yaml(path)) == [], path.name


def test_dollar_check_flags_a_single_dollar() -> None:
    node = {"url": "${__value.raw}", "query": '{$${__tags}} | trace_id="${__trace.traceId}"'}
    assert len(sf.check_grafana_dollar_escaping(node)) == 2


def test_exemplars_link_to_tempo_for_both_label_names(
    datasources: dict[str, dict[str, Any]],
) -> None:
    destinations = datasources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {(d["name"], d["datasourceUid"]) for d in destinations} == {
        ("trace_id", "tempo"),
        ("traceID", "tempo"),
    }


def test_tempo_links_to_logs_metrics_and_service_map(
    datasources: dict[str, dict[str, Any]],
) -> None:
    data = datasources["tempo"]["jsonData"]
    logs = data["tracesToLogsV2"]
    assert logs["datasourceUid"] == "loki"
    assert logs["customQuery"] is True
    # trace_id is structured metadata in Loki 3 (OTLP), so it is a filter, not a label matcher.
    assert '| trace_id="$${__trace.traceId}"' in logs["query"]
    assert {"key": "service.name", "value": "service_name"} in logs["tags"]
    metrics = data["tracesToMetrics"]
    assert metrics["datasourceUid"] == "prometheus"
    assert all("traces_spanmetrics_" in q["query"] for q in metrics["queries"])
    assert data["serviceMap"]["datasourceUid"] == "prometheus"
    assert data["nodeGraph"]["enabled"] is True


def test_loki_trace_ids_link_to_tempo(datasources: dict[str, dict[str, Any]]) -> None:
    fields = {f["name"]: f for f in datasources["loki"]["jsonData"]["derivedFields"]}
    field = fields["TraceID"]
    assert field["matcherType"] == "label"
    assert field["matcherRegex"] == "trace_id"
    assert field["datasourceUid"] == "tempo"
    assert field["url"] == "$${__value.raw}"


def test_alert_notifications_in_loki_link_to_runbook_and_dashboard(
    datasources: dict[str, dict[str, Any]],
) -> None:
    # The structured-metadata names are the receiver's log fields, whatever an alert carries.
    logged = set(alert_fields(parse_notification(json.dumps(notification()).encode()).alerts[0]))
    links = {
        f["matcherRegex"]: f
        for f in datasources["loki"]["jsonData"]["derivedFields"]
        if "datasourceUid" not in f
    }
    assert set(links) == {"runbook_url", "dashboard_url"}
    assert set(links) <= logged
    for field in links.values():
        assert field["matcherType"] == "label"
        assert field["url"] == "$${__value.raw}"  # the value itself is the (external) URL


def test_prometheus_datasource_names_the_provisioned_alertmanager(
    datasources: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    prometheus = datasources["prometheus"]["jsonData"]
    assert prometheus["alertmanagerUid"] == "alertmanager"
    assert prometheus["manageAlerts"] is True
    alertmanager = datasources["alertmanager"]
    assert alertmanager["type"] == "alertmanager"
    assert alertmanager["jsonData"]["implementation"] == "prometheus"
    assert alertmanager["jsonData"]["handleGrafanaManagedAlerts"] is False
    # Grafana calls Alertmanager at the root of this URL (no route prefix): the service must
    # not set one, or an external URL with a path that would become one.
    flags = dict(f.split("=", 1) for f in compose["services"]["alertmanager"]["command"])
    assert "--web.route-prefix" not in flags
    assert urlsplit(flags["--web.external-url"]).path in ("", "/")
    assert alertmanager["url"] == "http://alertmanager:9093"


def test_dashboard_provider_points_at_the_mounted_folder(compose: dict[str, Any]) -> None:
    (provider,) = sf.load_yaml(sf.GRAFANA_DASHBOARD_PROVIDERS / "dashboards.yaml")["providers"]
    assert provider["type"] == "file"
    mount = f"./grafana/dashboards:{provider['options']['path']}:ro"
    assert mount in compose["services"]["grafana"]["volumes"]


# --- Loki -----------------------------------------------------------------------------------


def test_every_loki_key_exists_in_the_pinned_version(loki: dict[str, Any]) -> None:
    known = sf.load_key_list("loki")
    assert sf.check_key_paths(loki, known, LOKI_KEYS_NOT_IN_DUMP) == []


@pytest.mark.parametrize(
    "breakage",
    [
        # Removed in Loki 3.0 (shared_store went with boltdb-shipper's compactor settings).
        lambda c: c["compactor"].update({"shared_store": "filesystem"}),
        # Right key, wrong depth: retention_period lives in limits_config.
        lambda c: c["compactor"].update({"retention_period": "168h"}),
        lambda c: c.update({"table_manager_typo": {}}),
        lambda c: c["schema_config"]["configs"][0].update({"shema": "v13"}),
    ],
)
def test_loki_key_check_flags_removed_and_misplaced_keys(
    loki: dict[str, Any], breakage: Any
) -> None:
    broken = copy.deepcopy(loki)
    breakage(broken)
    assert sf.check_key_paths(broken, sf.load_key_list("loki"), LOKI_KEYS_NOT_IN_DUMP) != []


def test_loki_stores_otlp_trace_ids_and_applies_retention(loki: dict[str, Any]) -> None:
    assert loki["auth_enabled"] is False  # the collector sends no X-Scope-OrgID
    (schema,) = loki["schema_config"]["configs"]
    assert (schema["store"], schema["schema"], schema["object_store"]) == (
        "tsdb",
        "v13",
        "filesystem",
    )
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert loki["limits_config"]["retention_period"]
    assert loki["compactor"]["retention_enabled"] is True
    assert loki["compactor"]["delete_request_store"] == "filesystem"


# --- Tempo ----------------------------------------------------------------------------------


def test_every_tempo_key_exists_in_the_pinned_version(tempo: dict[str, Any]) -> None:
    known = sf.load_key_list("tempo")
    assert sf.check_key_paths(tempo, known, TEMPO_KEYS_NOT_IN_DUMP) == []


@pytest.mark.parametrize(
    "breakage",
    [
        # Sections Tempo 3.0 removed; 3.0 refuses to start with them.
        lambda c: c.update({"compactor": {"compaction": {"block_retention": "72h"}}}),
        lambda c: c.update({"ingester": {"max_block_duration": "5m"}}),
        # The legacy flat overrides form.
        lambda c: c["overrides"].update({"metrics_generator_processors": ["span-metrics"]}),
        # The local-blocks processor config went with 3.0.
        lambda c: c["metrics_generator"].update({"processor": {"local_blocks": {}}}),
    ],
)
def test_tempo_key_check_flags_removed_sections(tempo: dict[str, Any], breakage: Any) -> None:
    broken = copy.deepcopy(tempo)
    breakage(broken)
    assert sf.check_key_paths(broken, sf.load_key_list("tempo"), TEMPO_KEYS_NOT_IN_DUMP) != []


def test_tempo_receivers_listen_on_all_interfaces(tempo: dict[str, Any]) -> None:
    protocols = tempo["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert tempo["storage"]["trace"]["backend"] == "local"


# --- variables in the component configs -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [sf.COLLECTOR_CONFIG, sf.PROMETHEUS_CONFIG, sf.LOKI_CONFIG, sf.TEMPO_CONFIG],
    ids=lambda p: p.parent.name,
)
def test_component_configs_use_no_unset_environment_variables(path: Any) -> None:
    # None of these components is started with env expansion, so a ${VAR} would stay literal.
    assert list(sf.compose_variables(path.read_text())) == []
    assert "${env:" not in path.read_text()


# --- the stack alone ------------------------------------------------------------------------


def stack_addresses(documents: list[Any], services: set[str]) -> set[str]:
    """The compose services that `documents` address (`host:port` or a URL to one)."""
    found: set[str] = set()
    for document in documents:
        for _, value in sf.walk(document):
            if not isinstance(value, str) or ":" not in value:
                continue
            try:
                host, _ = sf.endpoint_hostport(value)
            except ValueError:
                continue
            if host in services:
                found.add(host)
    return found


def test_the_stack_configs_address_only_services_the_stack_runs(
    compose: dict[str, Any],
    collector: dict[str, Any],
    loki: dict[str, Any],
    tempo: dict[str, Any],
    datasources: dict[str, dict[str, Any]],
) -> None:
    """Alone, the stack reaches nothing of the app: the collector's exporters, Tempo's remote
    write, Alertmanager's webhook, Grafana's datasources and Prometheus' static targets name
    only services of compose.observability.yaml (the app's targets are its own files)."""
    stack = set(sf.load_compose(FAKE_SECRETS, layer="stack")["services"])
    documents = [
        collector,
        loki,
        tempo,
        list(datasources.values()),
        sf.load_yaml(sf.ROOT / "alertmanager" / "alertmanager.yml"),
        sf.load_yaml(sf.PROMETHEUS_CONFIG),
    ]
    addressed = stack_addresses(documents, set(compose["services"]))
    assert addressed, "the check found no address at all"
    assert addressed <= stack, addressed - stack
    # And it can fail: the app's target file names the api.
    assert stack_addresses([sf.load_yaml(sf.PROMETHEUS_TARGETS / "api.yml")], stack | {"api"}) == {
        "api"
    }

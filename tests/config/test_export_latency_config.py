"""The settings that decide how soon telemetry is queryable (docs/stack.md, "How soon telemetry
is queryable"), held to the components that read them:

- the app's batch delays in compose.yaml: names declared by the OpenTelemetry SDK at the version
  in uv.lock (``opentelemetry.sdk.environment_variables``), values that the SDK's batch
  processors really take (a value the SDK cannot parse is logged and replaced by the default,
  which would silently bring back the 5 s wait), the same for the api, the canary and the tagger;
- the collector's ``batch`` processor: keys of ``Config`` in core v0.159.0
  processor/batchprocessor/config.go (nearest stored version, commit c475f444; its
  config.schema.yaml lists the same five keys), and batching done once (no ``sending_queue.batch``
  in an exporter, which would add its own flush timeout);
- Tempo's live store: what its ``Config.Validate`` demands (modules/livestore/config.go);
- docs/stack.md states the values the files hold.

No timing is asserted here; the figures come from tests/telemetry/test_export_latency.py and
tests/live/test_live_arrival.py.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from typing import Any

import pytest
from opentelemetry.sdk import environment_variables as sdk_env
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.config import stackfiles as sf
from tests.support.expectations import go_duration_seconds
from tests.support.services import BATCH_PREFIXES, compose_batch_env

APP_SERVICES = ("api", "api-canary", "tagger")
# core v0.159.0 processor/batchprocessor/config.go, Config (mapstructure tags)
BATCH_PROCESSOR_KEYS = {
    "timeout",
    "send_batch_size",
    "send_batch_max_size",
    "metadata_keys",
    "metadata_cardinality_limit",
}
# grafana/tempo modules/livestore/config.go: default max_trace_live
TEMPO_MAX_TRACE_LIVE_DEFAULT = "30s"


def locked_version(package: str) -> str:
    text = (sf.ROOT / "uv.lock").read_text(encoding="utf-8")
    match = re.search(rf'\[\[package\]\]\nname = "{re.escape(package)}"\nversion = "([^"]+)"', text)
    assert match, package
    return match.group(1)


def test_the_installed_sdk_is_the_locked_one() -> None:
    """The declarations below are read from the installed SDK; it must be uv.lock's."""
    assert importlib.metadata.version("opentelemetry-sdk") == locked_version("opentelemetry-sdk")


def test_batch_variables_are_declared_by_the_sdk() -> None:
    declared = {
        value
        for name, value in vars(sdk_env).items()
        if name.startswith(BATCH_PREFIXES) and isinstance(value, str)
    }
    assert {"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY"} <= declared
    for service in APP_SERVICES:
        env = compose_batch_env(service)
        assert env, f"{service}: no OTEL_BSP_*/OTEL_BLRP_* settings"
        assert set(env) <= declared, (service, set(env) - declared)


def test_api_canary_and_tagger_export_on_the_same_schedule() -> None:
    api = compose_batch_env("api")
    for service in APP_SERVICES:
        assert compose_batch_env(service) == api, service


def test_the_sdk_processors_take_the_compose_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = compose_batch_env("api")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    spans = BatchSpanProcessor(InMemorySpanExporter())
    logs = BatchLogRecordProcessor(InMemoryLogRecordExporter())
    try:
        # The shared BatchProcessor's fields (sdk/_shared_internal): what the worker really uses.
        for processor, prefix in ((spans, "OTEL_BSP_"), (logs, "OTEL_BLRP_")):
            inner: Any = processor._batch_processor
            taken = {
                "SCHEDULE_DELAY": inner._schedule_delay_millis,
                "MAX_EXPORT_BATCH_SIZE": inner._max_export_batch_size,
                "MAX_QUEUE_SIZE": inner._max_queue_size,
            }
            for suffix, value in taken.items():
                if prefix + suffix in env:
                    assert value == int(env[prefix + suffix]), prefix + suffix
    finally:
        spans.shutdown()
        logs.shutdown()
    # an unparsable value would have been logged and replaced by the default
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_an_unparsable_delay_falls_back_to_the_5_s_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the test above reads the processors: the SDK does not refuse a bad value."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "500ms")
    processor = BatchSpanProcessor(InMemorySpanExporter())
    try:
        inner: Any = processor._batch_processor
        assert inner._schedule_delay_millis == 5000
    finally:
        processor.shutdown()


# --- the collector ----------------------------------------------------------------------------


def batch_processors(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: dict(settings or {})
        for name, settings in (config.get("processors") or {}).items()
        if sf.component_type(name) == "batch"
    }


def collector_batching_problems(config: dict[str, Any]) -> list[str]:
    """Batch processors with upstream keys and valid values; no exporter batching on top
    (``sending_queue.batch`` would add its own flush timeout, 200ms by default: core
    exporter/exporterhelper NewDefaultQueueConfig, off unless configured or the
    pkg.exporterhelper.queueBatchEnabled gate is on)."""
    problems = []
    processors = batch_processors(config)
    if not processors:
        problems.append("no batch processor")
    for name, settings in processors.items():
        unknown = set(settings) - BATCH_PROCESSOR_KEYS
        if unknown:
            problems.append(f"{name}: keys not in batchprocessor Config: {sorted(unknown)}")
        try:
            go_duration_seconds(str(settings.get("timeout", "200ms")))
        except ValueError as error:
            problems.append(f"{name}: timeout {error}")
        if settings.get("send_batch_max_size", 0) and settings[
            "send_batch_max_size"
        ] < settings.get("send_batch_size", 8192):
            problems.append(f"{name}: send_batch_max_size below send_batch_size")
    for name, exporter in (config.get("exporters") or {}).items():
        if "batch" in ((exporter or {}).get("sending_queue") or {}):
            problems.append(f"exporter {name}: batches again in sending_queue")
    return problems


def test_collector_batching_uses_upstream_keys_valid_values_and_batches_once() -> None:
    assert collector_batching_problems(sf.load_yaml(sf.COLLECTOR_CONFIG)) == []


def test_collector_batching_check_flags_a_broken_copy() -> None:
    config = sf.load_yaml(sf.COLLECTOR_CONFIG)
    config["processors"]["batch"] |= {"flush_timeout": "1s", "timeout": "2 s"}
    config["exporters"]["otlp_grpc/tempo"]["sending_queue"]["batch"] = {"flush_timeout": "1s"}
    assert collector_batching_problems(config) == [
        "batch: keys not in batchprocessor Config: ['flush_timeout']",
        "batch: timeout not a duration: '2 s'",
        "exporter otlp_grpc/tempo: batches again in sending_queue",
    ]
    del config["processors"]["batch"]
    assert "no batch processor" in collector_batching_problems(config)


# --- Tempo --------------------------------------------------------------------------------------


def live_store_problems(tempo: dict[str, Any]) -> list[str]:
    """What Tempo's live store ``Config.Validate`` refuses, for the timings set here."""
    live_store = tempo.get("live_store") or {}
    problems = []
    for key in ("max_trace_idle", "flush_check_period"):
        if key not in live_store:
            problems.append(f"live_store.{key} not set")
        elif go_duration_seconds(str(live_store[key])) <= 0:
            problems.append(f"live_store.{key} must be greater than 0")
    idle = go_duration_seconds(str(live_store.get("max_trace_idle", "5s")))
    live = go_duration_seconds(str(live_store.get("max_trace_live", TEMPO_MAX_TRACE_LIVE_DEFAULT)))
    if idle > live:
        problems.append("live_store.max_trace_idle cannot be greater than max_trace_live")
    return problems


def test_tempo_live_store_timings_pass_its_validation() -> None:
    assert live_store_problems(sf.load_yaml(sf.TEMPO_CONFIG)) == []


def test_live_store_check_flags_what_tempo_refuses() -> None:
    assert live_store_problems(
        {"live_store": {"max_trace_idle": "40s", "flush_check_period": "0s"}}
    ) == [
        "live_store.flush_check_period must be greater than 0",
        "live_store.max_trace_idle cannot be greater than max_trace_live",
    ]
    assert live_store_problems({}) == [
        "live_store.max_trace_idle not set",
        "live_store.flush_check_period not set",
    ]


# --- the docs ---------------------------------------------------------------------------------


def test_docs_state_the_values_the_files_hold() -> None:
    doc = sf.STACK_DOC.read_text(encoding="utf-8")
    expected = [f"`{key}={value}`" for key, value in compose_batch_env("api").items()]
    (batch,) = batch_processors(sf.load_yaml(sf.COLLECTOR_CONFIG)).values()
    expected += [f"`timeout: {batch['timeout']}`", f"`send_batch_size: {batch['send_batch_size']}`"]
    live_store = sf.load_yaml(sf.TEMPO_CONFIG)["live_store"]
    expected += [f"`{key}: {value}`" for key, value in live_store.items()]
    missing = [text for text in expected if text not in doc]
    assert not missing, missing
    # docs/architecture.md, "Telemetry export", says it in one figure
    env = compose_batch_env("api")
    assert env["OTEL_BSP_SCHEDULE_DELAY"] == env["OTEL_BLRP_SCHEDULE_DELAY"]
    architecture = " ".join(sf.ARCHITECTURE.read_text(encoding="utf-8").split())
    assert f"every {env['OTEL_BSP_SCHEDULE_DELAY']} ms in the stack" in architecture

"""The OTEL_* check: accepted values held to the installed SDK (opentelemetry-sdk 1.45.2,
opentelemetry-exporter-otlp-proto-grpc 1.45.2, opentelemetry-exporter-otlp-common 0.66b2)."""

from __future__ import annotations

from importlib import metadata
from importlib.metadata import entry_points

import opentelemetry.sdk.environment_variables as sdk_variables
from opentelemetry.exporter.otlp.proto.grpc import exporter as grpc_exporter
from opentelemetry.sdk import _configuration
from opentelemetry.sdk.trace import sampling

from loan_desk_telemetry._environment import (
    _BATCH_INTEGERS,
    EXPORTER_CHOICES,
    GRPC_COMPRESSIONS,
    OTLP_PROTOCOLS,
    environment_problems,
    sampler_names,
)


def test_protocols_are_the_sdks() -> None:
    assert set(OTLP_PROTOCOLS) == set(_configuration._EXPORTER_BY_OTLP_PROTOCOL)


def test_samplers_are_those_the_tracer_provider_reads() -> None:
    # TracerProvider(sampler=None) reads OTEL_TRACES_SAMPLER through sampling._KNOWN_SAMPLERS.
    assert set(sampler_names()) == set(sampling._KNOWN_SAMPLERS)


def test_exporter_names_are_the_sdks_entry_points() -> None:
    # "console" is the SDK's; "otlp" is registered by the opentelemetry-exporter-otlp
    # meta-package (the services install it), which the package itself does not need: it depends
    # on the HTTP exporter (otlp_proto_http) and builds its exporters itself.
    try:
        metadata.distribution("opentelemetry-exporter-otlp")
        meta_package = True
    except metadata.PackageNotFoundError:
        meta_package = False
    for group in ("opentelemetry_traces_exporter", "opentelemetry_logs_exporter"):
        names = {ep.name for ep in entry_points(group=group)}
        assert {"console", "otlp_proto_http"} <= names, (group, names)
        assert ("otlp" in names) is meta_package, (group, names)
    assert "none" in EXPORTER_CHOICES


def test_grpc_compressions_are_the_exporters() -> None:
    assert set(GRPC_COMPRESSIONS) == {k for k in grpc_exporter._ENVIRON_TO_COMPRESSION if k}


def test_batch_variables_are_the_sdks() -> None:
    for name in _BATCH_INTEGERS:
        assert getattr(sdk_variables, name) == name


def test_nothing_set_is_fine() -> None:
    assert environment_problems({}) == []


def test_one_problem_per_variable_and_disabled_reads_nothing_else() -> None:
    wrong = {
        "OTEL_TRACES_EXPORTER": "bogus",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "-1",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "deflate",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "deflate",  # fine over HTTP
        "OTEL_BLRP_SCHEDULE_DELAY": "-5",
    }
    assert [name for name, _ in environment_problems(wrong)] == [
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_BLRP_SCHEDULE_DELAY",
    ]
    assert environment_problems(wrong | {"OTEL_SDK_DISABLED": "TRUE"}) == []
    assert environment_problems({"OTEL_TRACES_SAMPLER": "TraceIdRatio"}) == []  # SDK lowercases

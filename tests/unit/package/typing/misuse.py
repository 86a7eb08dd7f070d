"""Calls mypy must reject. A line marked ``# E: <code>[, <code>...]`` has exactly those errors;
test_adopter_typing.py (beside it) asserts mypy reports these and no others. Never run."""

from __future__ import annotations

import os

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine

import loan_desk_telemetry

app = FastAPI()
engine = create_engine("sqlite://")
client = httpx.Client()

# An exporter where a provider goes, a provider where an exporter goes.
loan_desk_telemetry.setup_telemetry(
    service_name="svc",
    service_version="1",
    tracer_provider=CollectorRegistry(),  # E: arg-type
    span_exporter=TracerProvider(),  # E: arg-type
)
# The database URL instead of its engine; an engine where the httpx client goes.
loan_desk_telemetry.instrument_sqlalchemy("sqlite://")  # E: arg-type
loan_desk_telemetry.instrument_httpx_client(engine)  # E: arg-type
# A requests-style session is not an httpx client.
loan_desk_telemetry.instrument_httpx_client(object())  # E: arg-type

telemetry = loan_desk_telemetry.setup_telemetry(service_name="svc", service_version="1")
# The handle's providers are the API's (no-op under OTEL_SDK_DISABLED=true): no SDK methods.
telemetry.tracer_provider.add_span_processor(None)  # E: attr-defined
# shutdown() says whether everything left in time (a bool), not what was left behind.
left_behind: list[str] = telemetry.shutdown()  # E: assignment
# Each problem is a (variable, reason) pair, not a mapping by variable.
problems = loan_desk_telemetry.environment_problems()
reason: str = problems["OTEL_TRACES_EXPORTER"]  # E: call-overload
# route_of takes the scope first, the routes second; match_route may answer None.
loan_desk_telemetry.route_of(app.routes, {"type": "http"})  # E: arg-type, arg-type
template: str = loan_desk_telemetry.match_route(app.routes, {"type": "http"})  # E: assignment
# A level the package does not know; a level read from the environment, unchecked.
loan_desk_telemetry.configure_logging(service_name="svc", level="VERBOSE")  # E: arg-type
from_environment = os.environ["LOG_LEVEL"]
loan_desk_telemetry.configure_logging(service_name="svc", level=from_environment)  # E: arg-type
# Redaction works on mappings and text, not on arbitrary objects.
loan_desk_telemetry.redact_text(b"password=hunter2")  # E: arg-type

"""The OTel resource and the service name, from arguments and the standard ``OTEL_*`` variables."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

DEFAULT_ENVIRONMENT = "development"

#: The tracing instrumentations this package installs, by their entry-point names (the names
#: ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` takes).
Instrumentation: TypeAlias = Literal["fastapi", "sqlalchemy", "httpx"]

_instance_ids: dict[int, str] = {}


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED=true`` turns every OpenTelemetry part of this package into a no-op."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def instrumentation_disabled(name: Instrumentation) -> bool:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names ``name`` (or is ``*``): that instrumentation
    is not installed, as ``opentelemetry-instrument`` reads the same variable (comma-separated
    entry-point names ``fastapi``, ``sqlalchemy``, ``httpx``; opentelemetry-python-contrib
    0.66b2, opentelemetry-instrumentation/src/opentelemetry/instrumentation/environment_variables.py
    and auto_instrumentation/_load.py)."""
    raw = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    names = {n.strip() for n in raw.split(",")}
    return name in names or "*" in names


def resolve_service_name(service_name: str) -> str:
    """``OTEL_SERVICE_NAME`` when set, else ``service_name``."""
    return os.environ.get("OTEL_SERVICE_NAME", "").strip() or service_name


def instance_id() -> str:
    """A uuid per process (per pid, so forked workers each get their own)."""
    pid = os.getpid()
    if pid not in _instance_ids:
        _instance_ids[pid] = str(uuid.uuid4())
    return _instance_ids[pid]


def build_resource(*, service_name: str, service_version: str) -> Resource:
    """``service.name`` (``OTEL_SERVICE_NAME`` wins), ``service.version``, ``service.instance.id``
    (from ``OTEL_RESOURCE_ATTRIBUTES`` or a uuid per process), ``deployment.environment.name``
    (from ``OTEL_RESOURCE_ATTRIBUTES``, default ``development``), plus whatever else
    ``OTEL_RESOURCE_ATTRIBUTES`` carries."""
    from opentelemetry.sdk.resources import Resource

    detected = Resource.create({})  # OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, SDK info
    attributes = dict(detected.attributes)
    attributes["service.name"] = resolve_service_name(service_name)
    attributes["service.version"] = service_version
    attributes.setdefault("service.instance.id", instance_id())
    attributes.setdefault("deployment.environment.name", DEFAULT_ENVIRONMENT)
    return Resource.create(attributes)

"""Importing ``loan_desk_telemetry`` changes nothing in the process; the one setting it needs,
``OTEL_SEMCONV_STABILITY_OPT_IN``, is applied by its setup functions and a user's value wins."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine

import loan_desk_telemetry
from loan_desk_telemetry._semconv import SEMCONV_OPT_IN
from tests.support.tools import environment_without, run_python

# In a fresh interpreter: what the process looks like before and after the import. The API
# modules imported first set nothing (their getters return the proxies until a provider is set).
_SNAPSHOT = textwrap.dedent(
    """
    import json, logging, os, sys, threading, warnings
    from opentelemetry import _logs, metrics, trace

    def snapshot():
        loggers = {
            name: [logging.getLevelName(lg.level), len(lg.handlers), lg.propagate, lg.disabled]
            for name, lg in sorted(logging.root.manager.loggerDict.items())
            if isinstance(lg, logging.Logger)
        }
        return {
            "environ": dict(os.environ),
            "root": [
                logging.getLevelName(logging.root.level),
                [repr(h) for h in logging.root.handlers],
            ],
            "loggers": loggers,
            "record_factory": repr(logging.getLogRecordFactory()),
            "last_resort": repr(logging.lastResort),
            "tracer_provider": id(trace.get_tracer_provider()),
            "meter_provider": id(metrics.get_meter_provider()),
            "logger_provider": id(_logs.get_logger_provider()),
            "excepthooks": [repr(sys.excepthook), repr(threading.excepthook)],
            "warning_filters": len(warnings.filters),
            "threads": sorted(t.name for t in threading.enumerate()),
            "instrumentation": sorted(
                m for m in sys.modules if m.startswith("opentelemetry.instrumentation")
            ),
        }

    before = snapshot()
    import loan_desk_telemetry
    after = snapshot()
    from opentelemetry.instrumentation._semconv import (
        _OpenTelemetrySemanticConventionStability as Stability,
    )
    print(json.dumps({"before": before, "after": after, "semconv_fixed": Stability._initialized}))
    """
)

_CONTRIB_HANDLER_LOGGER = "opentelemetry.instrumentation.logging.handler.internal"

# The modules of libraries an instrumentation would patch or wrap: none is loaded by the import.
_LIBRARY_INSTRUMENTATIONS = ("fastapi", "asgi", "httpx", "sqlalchemy", "starlette")


def _run_snapshot() -> dict[str, dict[str, object]]:
    out = run_python(_SNAPSHOT, env=environment_without(SEMCONV_OPT_IN))
    result: dict[str, dict[str, object]] = json.loads(out)
    return result


def test_importing_the_package_changes_nothing_in_the_process() -> None:
    result = _run_snapshot()
    before, after = result["before"], result["after"]
    env_before: dict[str, str] = before["environ"]  # type: ignore[assignment]
    env_after: dict[str, str] = after["environ"]  # type: ignore[assignment]
    # Names only in a failure message: the values may hold secrets.
    changed = {
        k for k in env_before.keys() | env_after.keys() if env_before.get(k) != env_after.get(k)
    }
    assert changed == set()
    assert SEMCONV_OPT_IN not in env_after
    for key in (
        "root",
        "record_factory",
        "last_resort",
        "tracer_provider",
        "meter_provider",
        "logger_provider",
        "excepthooks",
        "warning_filters",
        "threads",
    ):
        assert after[key] == before[key], key
    # Loggers that existed keep their settings; the ones modules create at import are plain,
    # except the contrib log handler's own: its module gives it a stderr handler and
    # propagate=False at import (opentelemetry-python-contrib v0.66b2,
    # instrumentation/opentelemetry-instrumentation-logging/src/opentelemetry/instrumentation/
    # logging/handler.py, `_internal_logger`), inside its own namespace, touching no other logger.
    loggers_before: dict[str, list[object]] = before["loggers"]  # type: ignore[assignment]
    loggers_after: dict[str, list[object]] = after["loggers"]  # type: ignore[assignment]
    plain = ["NOTSET", 0, True, False]
    exceptions = {_CONTRIB_HANDLER_LOGGER: ["NOTSET", 1, False, False]}
    for name, settings in loggers_after.items():
        expected = loggers_before.get(name, exceptions.get(name, plain))
        assert settings == expected, name
    # The contrib semantic-convention mode is not fixed by the import (it would be for good).
    assert result["semconv_fixed"] is False


def test_importing_the_package_loads_no_library_instrumentation() -> None:
    after: list[str] = _run_snapshot()["after"]["instrumentation"]  # type: ignore[assignment]
    loaded = {m.split(".")[2] for m in after if m.count(".") >= 2}
    # The OTLP log handler's module (opentelemetry-instrumentation-logging) is imported, and its
    # instrumentor is not applied (the record factory above is unchanged).
    assert "logging" in loaded
    assert loaded.isdisjoint(_LIBRARY_INSTRUMENTATIONS), sorted(loaded)


# The contrib reads the semconv opt-in once per process: it reads the services' value first.
pytestmark = pytest.mark.usefixtures("contrib_semconv_read_as_the_services_run")


def _setup_telemetry() -> None:
    loan_desk_telemetry.testing.capture_telemetry()


def _instrument_app() -> None:
    loan_desk_telemetry.instrument_app(
        FastAPI(),
        service_name="svc",
        service_version="1",
        registry=CollectorRegistry(),
        tracer_provider=TracerProvider(),
    )


def _instrument_sqlalchemy() -> None:
    loan_desk_telemetry.instrument_sqlalchemy(
        create_engine("sqlite://"), tracer_provider=TracerProvider()
    )


def _instrument_httpx_client() -> None:
    with httpx.Client() as client:
        loan_desk_telemetry.instrument_httpx_client(client, tracer_provider=TracerProvider())


SETUP_FUNCTIONS: dict[str, Callable[[], None]] = {
    "setup_telemetry": _setup_telemetry,
    "instrument_app": _instrument_app,
    "instrument_sqlalchemy": _instrument_sqlalchemy,
    "instrument_httpx_client": _instrument_httpx_client,
}


@pytest.mark.parametrize("setup", SETUP_FUNCTIONS.values(), ids=SETUP_FUNCTIONS.keys())
@pytest.mark.parametrize("unset", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_a_setup_function_opts_in_to_stable_http_conventions(
    setup: Callable[[], None], unset: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if unset is None:
        monkeypatch.delenv(SEMCONV_OPT_IN, raising=False)
    else:
        monkeypatch.setenv(SEMCONV_OPT_IN, unset)
    setup()
    assert os.environ[SEMCONV_OPT_IN] == "http"


@pytest.mark.parametrize("setup", SETUP_FUNCTIONS.values(), ids=SETUP_FUNCTIONS.keys())
@pytest.mark.parametrize("value", ["http/dup", "database", "http,database"])
def test_a_setup_function_leaves_the_users_value(
    setup: Callable[[], None], value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SEMCONV_OPT_IN, value)
    setup()
    assert os.environ[SEMCONV_OPT_IN] == value


_FIRST_REQUEST = textwrap.dedent(
    """
    import json
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry
    import loan_desk_telemetry

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    loan_desk_telemetry.instrument_app(
        app, service_name="svc", service_version="1", registry=CollectorRegistry(),
        tracer_provider=provider,
    )
    with TestClient(app) as client:
        client.get("/items/3")
    (span,) = exporter.get_finished_spans()
    print(json.dumps(sorted(span.attributes)))
    """
)


@pytest.mark.parametrize(
    ("value", "present", "absent"),
    [
        (None, {"http.request.method", "http.response.status_code", "url.path"}, {"http.method"}),
        ("http/dup", {"http.request.method", "http.method", "http.status_code"}, set()),
    ],
    ids=["unset", "user-dup"],
)
def test_the_opt_in_is_in_place_before_the_contrib_reads_it(
    value: str | None, present: set[str], absent: set[str]
) -> None:
    # A fresh interpreter: the contrib reads the variable once per process, at the first
    # instrumentation set up, which here is instrument_app's own.
    env = environment_without(SEMCONV_OPT_IN)
    if value is not None:
        env[SEMCONV_OPT_IN] = value
    out = run_python(_FIRST_REQUEST, env=env)
    attributes = set(json.loads(out.splitlines()[-1]))  # after the access line
    assert present <= attributes
    assert not (absent & attributes)

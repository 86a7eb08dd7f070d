"""What ``loan_desk_telemetry`` relies on in its dependencies beyond their public API, pinned.

Each test names the distribution version (uv.lock) and the upstream file it was read in. An
upgrade that moves, renames or changes one of these fails here, loudly, before it breaks the
package quietly (a span missing, a setting read too late). When one fails: read the new upstream
file, adapt the package, then the pin.
"""

from __future__ import annotations

import inspect
import json
import textwrap

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware

from tests.support.tools import environment_without, run_python

# The contrib reads the semconv opt-in once per process: it reads the services' value first.
pytestmark = pytest.mark.usefixtures("contrib_semconv_read_as_the_services_run")


def _parameters(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


# --- OTEL_SEMCONV_STABILITY_OPT_IN: when the contrib reads it --------------------------------
# opentelemetry-instrumentation 0.66b2 (opentelemetry-python-contrib v0.66b2),
# opentelemetry-instrumentation/src/opentelemetry/instrumentation/_semconv.py:
# `_OpenTelemetrySemanticConventionStability._initialize` reads the variable under a lock the
# first time it is called and caches the mode in the class (`_initialized`); later calls return
# at once. It is called by BaseInstrumentor.instrument (instrumentor.py),
# FastAPIInstrumentor.instrument_app, OpenTelemetryMiddleware.__init__ (asgi), the httpx
# transports and instrument_client, and EngineTracer.__init__ (sqlalchemy/engine.py); never at
# import. loan_desk_telemetry._semconv sets the variable before any of those runs.

_SEMCONV_READ_ONCE = textwrap.dedent(
    """
    import json, os
    import opentelemetry.instrumentation.asgi
    import opentelemetry.instrumentation.fastapi
    import opentelemetry.instrumentation.httpx
    import opentelemetry.instrumentation.sqlalchemy
    from opentelemetry.instrumentation._semconv import (
        OTEL_SEMCONV_STABILITY_OPT_IN,
        _OpenTelemetrySemanticConventionStability as Stability,
        _OpenTelemetryStabilitySignalType as Signal,
    )
    after_imports = Stability._initialized
    os.environ[OTEL_SEMCONV_STABILITY_OPT_IN] = "http"
    Stability._initialize()
    first = Stability._get_opentelemetry_stability_opt_in_mode(Signal.HTTP).value
    os.environ[OTEL_SEMCONV_STABILITY_OPT_IN] = ""
    Stability._initialize()
    second = Stability._get_opentelemetry_stability_opt_in_mode(Signal.HTTP).value
    print(json.dumps({
        "variable": OTEL_SEMCONV_STABILITY_OPT_IN,
        "after_imports": after_imports,
        "first": first,
        "second": second,
    }))
    """
)


def test_the_semconv_opt_in_is_read_once_per_process_and_not_at_import() -> None:
    out = run_python(_SEMCONV_READ_ONCE, env=environment_without("OTEL_SEMCONV_STABILITY_OPT_IN"))
    assert json.loads(out) == {
        "variable": "OTEL_SEMCONV_STABILITY_OPT_IN",  # the name loan_desk_telemetry._semconv sets
        "after_imports": False,  # importing the instrumentations reads nothing
        "first": "http",
        "second": "http",  # a later change is ignored: the first reader fixes it for good
    }


def test_the_contrib_instrumentations_read_the_opt_in_when_set_up() -> None:
    # The callers named above, by source: if one stops calling _initialize itself, the setting
    # might be read somewhere this package does not control.
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    for func in (
        FastAPIInstrumentor.instrument_app,
        HTTPXClientInstrumentor.instrument_client,
        BaseInstrumentor.instrument,
        EngineTracer.__init__,
    ):
        assert "_OpenTelemetrySemanticConventionStability._initialize()" in inspect.getsource(
            func
        ), func


# --- FastAPIInstrumentor: the app flag, and what uninstrument_app leaves ------------------------
# opentelemetry-instrumentation-fastapi 0.66b2,
# instrumentation/opentelemetry-instrumentation-fastapi/src/opentelemetry/instrumentation/fastapi/
# __init__.py: instrument_app marks the app `_is_instrumented_by_opentelemetry = True` (and
# does nothing but warn on a marked app); uninstrument_app sets it False and *builds*
# `app.middleware_stack`. loan_desk_telemetry reads the mark (an app the contrib traced first is
# left alone) and resets the stack of an app that had not started.


def test_fastapi_instrumentor_marks_the_app_and_builds_the_stack_on_undo() -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    assert {
        "app",
        "server_request_hook",
        "tracer_provider",
        "meter_provider",
        "excluded_urls",
        "http_capture_headers_sanitize_fields",
        "exclude_spans",
    } <= set(_parameters(FastAPIInstrumentor.instrument_app))
    assert _parameters(FastAPIInstrumentor.uninstrument_app) == ["app"]

    app = FastAPI()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=TracerProvider())
    try:
        assert app._is_instrumented_by_opentelemetry is True  # type: ignore[attr-defined]
        assert app.middleware_stack is None
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    assert app._is_instrumented_by_opentelemetry is False  # type: ignore[attr-defined]
    assert app.middleware_stack is not None


# --- FastAPI's built-in telemetry switches -------------------------------------------------------
# fastapi 0.165.0, fastapi/applications.py, FastAPI.__init__: `self._telemetry`, a private
# TelemetryConfig dict with the boolean switches "tracing", "metrics", "logs",
# "operation_spans". instrument_app turns them off (a mounted app would open a second server
# span) and uninstrument_app gives them back; without the dict both do nothing.


def test_fastapi_keeps_its_telemetry_switches_in_a_private_dict() -> None:
    config = getattr(FastAPI(), "_telemetry", None)
    assert isinstance(config, dict)
    for switch in ("tracing", "metrics", "logs", "operation_spans"):
        assert config[switch] is True, switch


# --- Starlette: when the middleware stack is built -----------------------------------------------
# starlette 1.10.0, starlette/applications.py: `middleware_stack` is None until the first call
# (request or lifespan event) builds it; `add_middleware` then raises RuntimeError, and before
# that inserts at index 0 of `user_middleware` (instrument_app records that entry to remove it).


def test_starlette_builds_the_stack_on_first_call_and_then_takes_no_middleware() -> None:
    from starlette.testclient import TestClient

    app = Starlette()
    assert app.middleware_stack is None
    app.add_middleware(GZipMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=10)
    assert app.user_middleware[0].kwargs == {"minimum_size": 10}
    with TestClient(app):
        pass
    assert app.middleware_stack is not None
    with pytest.raises(RuntimeError):
        app.add_middleware(GZipMiddleware)


# --- httpx: the client flag ----------------------------------------------------------------------
# opentelemetry-instrumentation-httpx 0.66b2,
# instrumentation/opentelemetry-instrumentation-httpx/src/opentelemetry/instrumentation/httpx/
# __init__.py: instrument_client sets `client._is_instrumented_by_opentelemetry = True` (and
# warns on a client already marked); uninstrument_client sets it False. instrument_httpx_client
# reads it to stay idempotent without the warning.


@pytest.mark.parametrize("client_class", [httpx.Client, httpx.AsyncClient])
def test_httpx_instrument_client_marks_the_client(
    client_class: type[httpx.Client] | type[httpx.AsyncClient],
) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    assert "tracer_provider" in _parameters(HTTPXClientInstrumentor.instrument_client)
    client = client_class()
    assert getattr(client, "_is_instrumented_by_opentelemetry", False) is False
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=TracerProvider())
    assert client._is_instrumented_by_opentelemetry is True
    HTTPXClientInstrumentor.uninstrument_client(client)
    assert client._is_instrumented_by_opentelemetry is False


# --- SQLAlchemy: EngineTracer, one engine ------------------------------------------------------
# opentelemetry-instrumentation-sqlalchemy 0.66b2,
# instrumentation/opentelemetry-instrumentation-sqlalchemy/src/opentelemetry/instrumentation/
# sqlalchemy/engine.py, `EngineTracer(tracer, engine, connections_usage, enable_commenter=False,
# commenter_options=None, enable_attribute_commenter=False)`: constructing it registers the
# statement listeners on that engine only. The public SQLAlchemyInstrumentor patches
# create_engine process-wide and instruments once per process, hence this module-level class
# (not re-exported by the package's __init__). `version.__version__` names the tracer.


def test_engine_tracer_traces_one_engine_and_only_that_one() -> None:
    from opentelemetry.instrumentation.sqlalchemy import version
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    assert _parameters(EngineTracer.__init__)[:4] == [
        "self",
        "tracer",
        "engine",
        "connections_usage",
    ]
    assert isinstance(version.__version__, str)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced, untouched = create_engine("sqlite://"), create_engine("sqlite://")
    counter = NoOpMeterProvider().get_meter("pin").create_up_down_counter("pin")
    EngineTracer(  # type: ignore[no-untyped-call]
        trace.get_tracer("pin", tracer_provider=provider), traced, counter
    )
    for engine in (traced, untouched):
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    spans = exporter.get_finished_spans()
    assert [(s.name, s.kind) for s in spans] == [("SELECT", trace.SpanKind.CLIENT)]


# --- The logs signal: still underscore modules ---------------------------------------------------
# opentelemetry-api / opentelemetry-sdk / opentelemetry-exporter-otlp-proto-* 1.45.2
# (opentelemetry-python v1.45.2): the logs API and SDK live in `opentelemetry._logs`
# (opentelemetry-api/src/opentelemetry/_logs/__init__.py) and `opentelemetry.sdk._logs`
# (opentelemetry-sdk/src/opentelemetry/sdk/_logs/__init__.py, _logs/export/__init__.py), the
# OTLP log exporters in `..._log_exporter` packages; there is no public path yet.


def test_the_logs_signal_names_the_package_uses() -> None:
    from opentelemetry import _logs
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
        OTLPLogExporter as GrpcLogExporter,
    )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        ConsoleLogRecordExporter,
        InMemoryLogRecordExporter,
    )

    assert callable(_logs.set_logger_provider)
    assert callable(_logs.get_logger_provider)
    assert isinstance(_logs.NoOpLoggerProvider(), _logs.LoggerProvider)
    assert {"resource", "shutdown_on_exit"} <= set(_parameters(LoggerProvider.__init__))
    for method in ("add_log_record_processor", "force_flush", "shutdown"):
        assert callable(getattr(LoggerProvider, method)), method
    assert "exporter" in _parameters(BatchLogRecordProcessor.__init__)
    for exporter in (
        ConsoleLogRecordExporter,
        InMemoryLogRecordExporter,
        HttpLogExporter,
        GrpcLogExporter,
    ):
        assert callable(exporter.export), exporter
        assert callable(exporter.shutdown), exporter

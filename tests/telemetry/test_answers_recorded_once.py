"""Every answer the services give is recorded once, whoever gives it, and a client's mistake is a
4xx in every sink.

The real api (trainer mode on, so the scenario middleware is in the stack) and the real tagger,
in-process with in-memory span and log exporters and a fresh registry each. For every answerer
(the app, the problem handlers, 404/405, a trainer scenario, an unhandled exception, the body
limit for a declared and for a chunked body, a client that disconnects mid-body) one request
must leave exactly one access line, one ``http_request_duration_seconds`` observation and one
server span; a 4xx must leave no ERROR line, no exception count and a server span that is not an
error (OTel HTTP semconv: server spans are not errors for 4xx); an unhandled exception exactly
one ERROR line, carrying the span's ids and the route.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

import loan_desk_telemetry
from doc_tagger.config import TaggerSettings
from doc_tagger.main import create_app as create_tagger_app
from loan_api.main import _MULTIPART_ALLOWANCE
from loan_api.migrate import upgrade
from loan_desk_telemetry._metrics import PrometheusMiddleware
from loan_desk_telemetry.testing import Capture, capture_telemetry
from servicekit.limits import BodySizeLimitMiddleware
from servicekit.problems import install_problem_handlers
from servicekit.trainer.middleware import ScenarioMiddleware
from tests.support.documents import PNG_HEADER, pdf
from tests.support.flows import application_body, create_application
from tests.support.trainer import (
    TrainerApi,
    attributes_of,
    body_of,
    severity_of,
    trainer_api,
)

CREATE = "/api/v1/applications"
ONE = "/api/v1/applications/{application_id}"
DOCUMENTS = "/api/v1/applications/{application_id}/documents"
TAGS = "/api/v1/tags"
MAX_UPLOAD = 4096
API_LIMIT = MAX_UPLOAD + _MULTIPART_ALLOWANCE  # the api's body limit (loan_api.main)
TAGGER_LIMIT = 4096


pytestmark = pytest.mark.usefixtures("clean_telemetry_state")


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('answers') / 'loan_api.db'}"
    upgrade(url)
    return url


@dataclass
class Sinks:
    """One service's telemetry: spans and log records (in memory) and its registry."""

    capture: Capture
    registry: CollectorRegistry

    def observations(self) -> dict[tuple[str, str, str], float]:
        out = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == "http_request_duration_seconds_count":
                    labels = sample.labels
                    key = (labels["method"], labels["route"], labels["status_code"])
                    out[key] = sample.value
        return out

    def exceptions(self) -> float:
        return sum(
            sample.value
            for metric in self.registry.collect()
            for sample in metric.samples
            if sample.name == "http_request_exceptions_total"
        )


@dataclass
class Recorded:
    status: int
    observations: dict[tuple[str, str, str], float]  # new observations only
    access: list[Any]  # OTLP records of the access line
    errors: list[Any]  # OTLP records at ERROR or above
    spans: list[Any]  # server spans
    exceptions: float  # new http_request_exceptions_total


async def record(sinks: Sinks, send: Callable[[], Awaitable[int]]) -> Recorded:
    """Send one request and collect what it left in every sink."""
    sinks.capture.clear()
    before = sinks.observations()
    exceptions_before = sinks.exceptions()
    status = await send()
    after = sinks.observations()
    new = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    logs = sinks.capture.log_records()
    return Recorded(
        status=status,
        observations=new,
        access=[
            r
            for r in logs
            if r.instrumentation_scope.name == "loan_desk_telemetry.access"
            and body_of(r) == "request"
        ],
        errors=[r for r in logs if severity_of(r) in {"ERROR", "FATAL"}],
        spans=[s for s in sinks.capture.spans() if s.kind.name == "SERVER"],
        exceptions=sinks.exceptions() - exceptions_before,
    )


def assert_recorded_once(seen: Recorded, method: str, route: str, status: int) -> None:
    assert seen.status == status
    assert seen.observations == {(method, route, str(status)): 1.0}
    (access,) = seen.access
    assert (attributes_of(access)["status_code"], attributes_of(access)["route"]) == (status, route)
    (span,) = seen.spans
    assert span.attributes["http.response.status_code"] == status
    # The access line is written inside the server span.
    assert access.log_record.trace_id == span.context.trace_id
    if status < 500:
        assert span.status.status_code is StatusCode.UNSET
        assert seen.errors == []
        assert seen.exceptions == 0
        assert severity_of(access) == "INFO"


def chunks(data: bytes, size: int = 1024) -> Callable[[], AsyncIterator[bytes]]:
    """A body without Content-Length: httpx sends it with Transfer-Encoding: chunked."""

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return stream


async def send_and_disconnect(app: FastAPI, path: str, headers: dict[str, str]) -> int:
    """Call the app the way uvicorn does when the client goes away mid-body: the first part of
    the body, then ``http.disconnect``. Returns the status the app answered (into the void)."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"x" * 100, "more_body": True},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"service"), (b"transfer-encoding", b"chunked")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    return int(starts[0]["status"])


def multipart(content: bytes) -> tuple[bytes, str]:
    """A document upload's multipart body and its Content-Type."""
    request = httpx.Request(
        "POST",
        "http://api/",
        files={"file": ("passport.pdf", content, "application/pdf")},
        data={"kind": "id"},
    )
    return request.read(), request.headers["content-type"]


def exactly(size: int) -> bytes:
    """A JSON application of exactly ``size`` bytes (padded with whitespace, still valid)."""
    body = json.dumps(application_body()).encode()
    assert len(body) < size
    return body + b" " * (size - len(body))


# --- the order ---------------------------------------------------------------------------------


async def test_the_metrics_middleware_wraps_every_other_middleware(
    api: TrainerApi, tagger: Tagger
) -> None:
    """What a middleware answers by itself is counted only if the metrics middleware wraps it
    (servicekit.observe.prepare_service wires the order for both services)."""
    assert [m.cls for m in api.app.user_middleware] == [
        PrometheusMiddleware,
        BodySizeLimitMiddleware,
        ScenarioMiddleware,
    ]
    assert [m.cls for m in tagger.app.user_middleware] == [
        PrometheusMiddleware,
        BodySizeLimitMiddleware,
    ]


# --- the api ------------------------------------------------------------------------------------


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[TrainerApi]:
    async with trainer_api(database_url, max_upload_bytes=MAX_UPLOAD) as value:
        yield value


def api_sinks(api: TrainerApi) -> Sinks:
    return Sinks(api.capture, api.registry)


async def test_app_and_problem_handlers_answers_are_recorded_once(api: TrainerApi) -> None:
    sinks = api_sinks(api)
    client = api.client
    json_type = {"Content-Type": "application/json"}

    async def created() -> int:
        return (await client.post(CREATE, json=application_body())).status_code

    assert_recorded_once(await record(sinks, created), "POST", CREATE, 201)

    async def invalid() -> int:
        return (await client.post(CREATE, json=[])).status_code

    assert_recorded_once(await record(sinks, invalid), "POST", CREATE, 422)

    async def malformed() -> int:
        return (await client.post(CREATE, content=b'{"first_name":', headers=json_type)).status_code

    assert_recorded_once(await record(sinks, malformed), "POST", CREATE, 400)

    applicant = await create_application(client)

    async def unauthorized() -> int:
        return (await client.get(applicant.path)).status_code

    assert_recorded_once(await record(sinks, unauthorized), "GET", ONE, 401)

    async def unknown_path() -> int:
        return (await client.get("/api/v1/nothing-here")).status_code

    assert_recorded_once(await record(sinks, unknown_path), "GET", "unmatched", 404)

    async def wrong_method() -> int:
        return (await client.delete(CREATE)).status_code

    assert_recorded_once(await record(sinks, wrong_method), "DELETE", CREATE, 405)


async def test_trainer_answers_and_unhandled_exceptions_are_recorded_once(api: TrainerApi) -> None:
    sinks = api_sinks(api)
    applicant = await create_application(api.client)

    async def read() -> int:
        return (await api.client.get(applicant.path, headers=applicant.headers)).status_code

    await api.switch_on("errors", route=ONE, rate=1.0, status=503)
    seen = await record(sinks, read)
    assert_recorded_once(seen, "GET", ONE, 503)
    assert seen.errors == []  # the scenario's own line is a warning
    assert seen.exceptions == 0
    await api.switch_off("errors")

    await api.switch_on("exceptions", route=ONE)
    seen = await record(sinks, read)
    assert_recorded_once(seen, "GET", ONE, 500)
    assert seen.exceptions == 1
    (span,) = seen.spans
    assert span.status.status_code is StatusCode.ERROR
    # One line for the fault, from inside the span, with its ids, method and route.
    (error,) = seen.errors
    assert body_of(error) == "unhandled exception"
    assert error.instrumentation_scope.name == "loan_desk_telemetry.access"
    assert (error.log_record.trace_id, error.log_record.span_id) == (
        span.context.trace_id,
        span.context.span_id,
    )
    assert attributes_of(error)["route"] == ONE
    assert attributes_of(error)["method"] == "GET"
    assert attributes_of(error)["exception.type"] == "TrainerScenarioError"
    await api.switch_off("exceptions")


async def test_an_oversized_declared_body_is_a_recorded_413(api: TrainerApi) -> None:
    sinks = api_sinks(api)
    body = exactly(API_LIMIT + 1)

    async def oversized() -> int:
        response = await api.client.post(
            CREATE, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:loan-desk:problem:body-too-large"
        assert response.json()["max_bytes"] == API_LIMIT
        return response.status_code

    assert_recorded_once(await record(sinks, oversized), "POST", CREATE, 413)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_json_body_of_exactly_the_limit_passes_one_byte_more_is_413(
    api: TrainerApi, declared: bool
) -> None:
    sinks = api_sinks(api)

    def send(body: bytes) -> Callable[[], Awaitable[int]]:
        async def go() -> int:
            content: Any = body if declared else chunks(body)()
            response = await api.client.post(
                CREATE, content=content, headers={"Content-Type": "application/json"}
            )
            if response.status_code == 413:
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"] == "urn:loan-desk:problem:body-too-large"
                assert response.json()["max_bytes"] == API_LIMIT
            return response.status_code

        return go

    assert_recorded_once(await record(sinks, send(exactly(API_LIMIT))), "POST", CREATE, 201)
    assert_recorded_once(await record(sinks, send(exactly(API_LIMIT + 1))), "POST", CREATE, 413)


async def test_an_oversized_chunked_upload_is_a_recorded_413(api: TrainerApi) -> None:
    sinks = api_sinks(api)
    applicant = await create_application(api.client)
    body, content_type = multipart(pdf("x" * API_LIMIT))
    assert len(body) > API_LIMIT

    async def oversized() -> int:
        response = await api.client.post(
            f"{applicant.path}/documents",
            content=chunks(body, 16 * 1024)(),
            headers=applicant.headers | {"Content-Type": content_type},
        )
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:loan-desk:problem:body-too-large"
        return response.status_code

    assert_recorded_once(await record(sinks, oversized), "POST", DOCUMENTS, 413)

    # Over the document limit but within the body limit: the endpoint's own 413, also once.
    body, content_type = multipart(pdf("x" * MAX_UPLOAD))
    assert len(body) <= API_LIMIT

    async def too_large_document() -> int:
        response = await api.client.post(
            f"{applicant.path}/documents",
            content=chunks(body)(),
            headers=applicant.headers | {"Content-Type": content_type},
        )
        assert response.json()["type"] == "urn:loan-desk:problem:document-too-large"
        return response.status_code

    assert_recorded_once(await record(sinks, too_large_document), "POST", DOCUMENTS, 413)


async def test_a_client_that_disconnects_mid_body_is_a_recorded_400(api: TrainerApi) -> None:
    sinks = api_sinks(api)
    applicant = await create_application(api.client)

    async def json_body() -> int:
        return await send_and_disconnect(api.app, CREATE, {"Content-Type": "application/json"})

    assert_recorded_once(await record(sinks, json_body), "POST", CREATE, 400)

    async def upload() -> int:
        return await send_and_disconnect(
            api.app,
            f"{applicant.path}/documents",
            applicant.headers | {"Content-Type": "multipart/form-data; boundary=b"},
        )

    assert_recorded_once(await record(sinks, upload), "POST", DOCUMENTS, 400)


# --- the tagger ---------------------------------------------------------------------------------


@dataclass
class Tagger:
    app: FastAPI
    client: httpx.AsyncClient
    sinks: Sinks


@pytest.fixture
async def tagger() -> AsyncIterator[Tagger]:
    capture = capture_telemetry(service_name="doc-tagger", version="test")
    registry = CollectorRegistry()
    settings = TaggerSettings(tagger_max_document_bytes=TAGGER_LIMIT, log_format="json")
    app = create_tagger_app(settings, registry=registry, telemetry=capture.telemetry)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://tagger") as client,
        ):
            yield Tagger(app, client, Sinks(capture, registry))
    finally:
        capture.telemetry.shutdown()


PNG = {"Content-Type": "image/png", "X-Document-Kind": "id"}


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_tagger_body_limit_is_a_4xx_in_every_sink(tagger: Tagger, declared: bool) -> None:
    def send(content: bytes) -> Callable[[], Awaitable[int]]:
        async def go() -> int:
            body: Any = content if declared else chunks(content)()
            response = await tagger.client.post(TAGS, content=body, headers=PNG)
            if response.status_code == 413:
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"] == "urn:loan-desk:problem:body-too-large"
                assert response.json()["max_bytes"] == TAGGER_LIMIT
            return response.status_code

        return go

    at_limit = PNG_HEADER + b"\x00" * (TAGGER_LIMIT - len(PNG_HEADER))
    assert_recorded_once(await record(tagger.sinks, send(at_limit)), "POST", TAGS, 200)
    assert_recorded_once(await record(tagger.sinks, send(at_limit + b"\x00")), "POST", TAGS, 413)
    assert_recorded_once(await record(tagger.sinks, send(at_limit * 50)), "POST", TAGS, 413)


async def test_tagger_client_mistakes_are_4xx_in_every_sink(tagger: Tagger) -> None:
    async def unsupported() -> int:
        response = await tagger.client.post(
            TAGS, content=b"x", headers={"Content-Type": "text/plain", "X-Document-Kind": "id"}
        )
        return response.status_code

    assert_recorded_once(await record(tagger.sinks, unsupported), "POST", TAGS, 415)

    async def disconnect() -> int:
        return await send_and_disconnect(tagger.app, TAGS, PNG)

    assert_recorded_once(await record(tagger.sinks, disconnect), "POST", TAGS, 400)

    async def unknown() -> int:
        return (await tagger.client.get("/nothing")).status_code

    assert_recorded_once(await record(tagger.sinks, unknown), "GET", "unmatched", 404)


# --- one line per fault where the metrics middleware does not look -----------------------------


async def test_an_unhandled_exception_is_logged_once_on_paths_the_metrics_skip() -> None:
    """Excluded paths (/metrics, health) and ``access_log=False`` leave the fault to the 500
    handler: still one line, with the route, and the server's own report of it is dropped."""
    stdout = io.StringIO()
    loan_desk_telemetry.configure_logging(service_name="svc", fmt="json", stream=stdout)
    capture = capture_telemetry(service_name="svc")
    app = FastAPI()

    @app.get("/health/live")
    async def live() -> None:
        raise RuntimeError("probe broke")

    loan_desk_telemetry.instrument_app(
        app,
        service_name="svc",
        service_version="1",
        registry=capture.registry,
        tracer_provider=capture.tracer_provider,
    )
    install_problem_handlers(app)
    transport = httpx.ASGITransport(app=app)  # the exception reaches us, as it reaches uvicorn
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        with pytest.raises(RuntimeError, match="probe broke") as raised:
            await client.get("/health/live")
    # What uvicorn does with it (uvicorn 0.54.0 h11_impl.py/httptools_impl.py run_asgi).
    logging.getLogger("uvicorn.error").error(
        "Exception in ASGI application\n", exc_info=raised.value
    )
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [(line["level"], line["event"]) for line in lines] == [
        ("error", "request.unhandled_exception")
    ]
    assert "RuntimeError: probe broke" in lines[0]["exception"]
    (error,) = [r for r in capture.log_records() if severity_of(r) == "ERROR"]
    assert body_of(error) == "request.unhandled_exception"
    assert error.instrumentation_scope.name == "servicekit.problems"
    assert attributes_of(error)["route"] == "/health/live"
    assert attributes_of(error)["method"] == "GET"
    assert attributes_of(error)["exception.type"] == "RuntimeError"

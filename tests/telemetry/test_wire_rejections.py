"""Requests refused at the edge, over real sockets to the services as `loan-api serve` and
`doc-tagger serve` run them (uvicorn, its default HTTP parser: httptools with uvicorn[standard]).

- An oversized chunked body is a 413 problem document, counted and logged once as a 4xx.
- A request uvicorn's parser rejects (an unknown method, a malformed Content-Length) is answered
  by uvicorn itself, text/plain 400, before the app runs: no access line, no metric, no span.
  That is a known limit (docs/observability.md); this test pins it so that an upgrade that
  changes it is noticed (and the docs updated).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.documents import pdf
from tests.support.expectations import APPLICATIONS, drive_flows
from tests.support.services import LOOPBACK, Service
from tests.support.wire import WireStack, scrape

# uvicorn 0.54.0 (uv.lock), uvicorn/protocols/http/httptools_impl.py: HttpToolsProtocol
# .data_received answers httptools.HttpParserError with send_400_response(msg), msg =
# "Invalid HTTP request received.", headers content-type text/plain; charset=utf-8 and
# connection: close (h11_impl.py H11Protocol.handle_events does the same on
# h11.RemoteProtocolError). Same code in Kludex/uvicorn's stored httptools_impl.py.
UVICORN_400_BODY = b"Invalid HTTP request received."


def test_the_services_run_uvicorns_httptools_parser() -> None:
    # serve_app leaves uvicorn's http="auto": uvicorn/protocols/http/auto.py picks httptools
    # when it imports (uvicorn[standard]). The documented limit is that parser's.
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert AutoHTTPProtocol is HttpToolsProtocol


def raw_exchange(service: Service, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is and read until the server closes the connection."""
    with socket.create_connection((LOOPBACK, service.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def observations(service: Service) -> float:
    return sum(
        value
        for selector, value in scrape(service).items()
        if selector.startswith("http_request_duration_seconds_count{")
    )


def access_lines(service: Service) -> list[dict[str, object]]:
    return [
        line for line in service.log_lines() if line.get("logger") == "loan_desk_telemetry.access"
    ]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"FOO / HTTP/1.1\r\nHost: service\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: service\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: service\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    ],
    ids=["unknown-method", "content-length-not-a-number", "content-length-twice-differing"],
)
def test_uvicorn_answers_what_its_parser_rejects_before_the_app_sees_it(
    wire_stack: WireStack, request_bytes: bytes
) -> None:
    for service in (wire_stack.api, wire_stack.tagger):
        seen_before = observations(service)
        access_before = len(access_lines(service))
        lines_before = len(service.log_lines())

        status, headers, body = raw_exchange(service, request_bytes)

        assert status == 400
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert headers["connection"] == "close"
        assert body == UVICORN_400_BODY
        # The app never ran: nothing counted, no access line; uvicorn's own warning is the
        # only trace of it (no trace id: there is no span).
        assert observations(service) == seen_before
        assert len(access_lines(service)) == access_before
        new = service.log_lines()[lines_before:]
        assert [(line["level"], line["logger"], line["event"]) for line in new] == [
            ("warning", "uvicorn.error", "Invalid HTTP request received.")
        ]
        assert "trace_id" not in new[0]


def exceptions(scraped: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in scraped.items() if k.startswith("http_request_exceptions_total")}


def chunked(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_an_oversized_chunked_body_over_the_wire_is_one_recorded_413(
    wire_stack: WireStack,
) -> None:
    with wire_stack.api.client() as client:
        (run,) = drive_flows(client, 1)
    auth = {"Authorization": f"Bearer {run.token}"}
    big = 11 * 1024 * 1024  # over both services' default limits (5 MiB + 64 KiB, 10 MiB)
    cases = [
        (
            wire_stack.api,
            APPLICATIONS,
            "/api/v1/applications",
            b'{"first_name": "' + b"x" * big + b'"}',
            {"Content-Type": "application/json"},
        ),
        (
            wire_stack.api,
            f"{APPLICATIONS}/{run.application_id}/documents",
            "/api/v1/applications/{application_id}/documents",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n" + pdf("x" * big) + b"\r\n--b--\r\n",
            {"Content-Type": "multipart/form-data; boundary=b"} | auth,
        ),
        (
            wire_stack.tagger,
            "/api/v1/tags",
            "/api/v1/tags",
            pdf("x" * big),
            {"Content-Type": "application/pdf", "X-Document-Kind": "id"},
        ),
    ]
    for service, path, route, body, headers in cases:
        before = scrape(service)
        lines_before = len(service.log_lines())
        with service.client() as client:
            response = client.post(path, content=chunked(body), headers=headers)
        assert response.status_code == 413, (route, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:loan-desk:problem:body-too-large"

        after = scrape(service)
        changed = {k: after[k] - before.get(k, 0.0) for k in after if "_count{" in k}
        changed = {k: v for k, v in changed.items() if v and "http_request_duration" in k}
        assert list(changed.values()) == [1.0], changed
        (selector,) = changed
        assert 'status_code="413"' in selector
        assert f'route="{route}"' in selector
        assert exceptions(after) == exceptions(before)
        new = service.log_lines()[lines_before:]
        assert [line["level"] for line in new if line["level"] in {"error", "critical"}] == []
        requests = [line for line in new if line.get("logger") == "loan_desk_telemetry.access"]
        assert [(r["status_code"], r["route"]) for r in requests] == [(413, route)]

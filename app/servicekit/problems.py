"""Every error a client sees is RFC 9457 problem details (``application/problem+json``).

``install_problem_handlers(app)`` turns HTTP errors, validation errors, unknown routes and
unhandled exceptions into problem documents. A stack trace never reaches a client: unhandled
exceptions are logged server-side, once, and answered with a generic 500.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from loan_desk_telemetry import already_logged, mark_logged, route_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:loan-desk:problem:"

log = structlog.get_logger(__name__)


class Problem(Exception):  # noqa: N818 - it is a problem document, not only an error
    """An error with a status, a stable type and a human-readable detail.

    ``extensions`` become extra members of the problem document (RFC 9457 section 3.2).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = f"{PROBLEM_TYPE_PREFIX}{slug}" if slug else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


_DEFAULT_DETAILS = {
    404: "No resource exists at this address.",
    405: "This resource does not support that method.",
}


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status,
        exc.detail,
        type_=exc.type,
        title=exc.title,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    # Starlette's own 404/405 details are just the status phrase; say something useful instead.
    if detail is None or detail == HTTPStatus(exc.status_code).phrase:
        detail = _DEFAULT_DETAILS.get(exc.status_code, HTTPStatus(exc.status_code).phrase)
    return problem_response(
        exc.status_code,
        detail,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem_response(
            400,
            "The request body is not valid JSON.",
            type_=f"{PROBLEM_TYPE_PREFIX}malformed-json",
            title="Malformed request body",
            instance=request.url.path,
        )
    # Only the location, message and type of each error: never echo the submitted input back,
    # it may hold personal data.
    fields = [
        {
            "field": _field_path(error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]
    names = ", ".join(sorted({item["field"] for item in fields}))
    return problem_response(
        422,
        f"The request has invalid fields: {names}.",
        type_=f"{PROBLEM_TYPE_PREFIX}validation-error",
        title="Invalid request",
        instance=request.url.path,
        errors=fields,
    )


async def _on_client_disconnect(request: Request, exc: Exception) -> JSONResponse:
    # The client went away before its body was complete (Starlette raises ClientDisconnect on
    # ASGI's http.disconnect): the client's doing, so a 4xx like FastAPI's own answer when it
    # parses the body (400), not an unhandled exception. Nobody receives this answer (the server
    # drops it); it is what the access line, the metrics and the server span record.
    return problem_response(
        400,
        "The client closed the connection before the request body was complete.",
        type_=f"{PROBLEM_TYPE_PREFIX}incomplete-body",
        instance=request.url.path,
    )


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    # One line per fault: the metrics middleware has logged it already, inside the server span
    # (trace and span ids), with its method and route. This line is for what it does not see:
    # its excluded paths (/metrics, health) and apps instrumented with access_log=False.
    if not already_logged(exc):
        log.error(
            "request.unhandled_exception",
            exc_info=exc,
            exception_type=type(exc).__name__,
            method=request.method,
            route=route_of(request.scope, request.app.routes),
        )
        mark_logged(exc)  # the server's own later report of it is dropped (DropRelogged)
    return problem_response(
        500,
        "An unexpected error occurred. It has been logged.",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ClientDisconnect, _on_client_disconnect)
    app.add_exception_handler(Exception, _on_unhandled)

"""A request-body size limit enforced while the body streams in.

Starlette parses multipart bodies before the endpoint runs, spooling large files to disk, so an
endpoint-level size check comes too late to protect the machine. This pure ASGI middleware answers
413 as soon as the declared ``Content-Length`` or the bytes actually received pass the limit; a
body of exactly the limit passes.

A refused body is a client's mistake, answered like any other 4xx: ``install_body_limit`` puts the
middleware *inside* the metrics middleware and the server span (``servicekit.observe`` wires the
order), so the 413 gets its access line, its duration observation and a server span that is not
an error, and nothing counts it as an exception.

- Declared ``Content-Length`` over the limit: the middleware answers at once; the app never runs.
- No ``Content-Length`` (chunked): reading past the limit raises :class:`BodyTooLarge` out of
  ``receive``. It is an ``HTTPException`` (413) because FastAPI's request parsing passes those on
  unchanged and turns any other exception into 400 "There was an error parsing the body"
  (fastapi 0.165.0, ``fastapi/routing.py``, ``get_request_handler``: ``except HTTPException:
  raise``); the app's exception handler (registered by ``install_body_limit``) then answers the
  problem document. Should it escape the app's handlers (an app without them, or a middleware
  reading the body), the middleware answers the same document itself.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.problems import PROBLEM_TYPE_PREFIX, problem_response

BODY_TOO_LARGE_TYPE = f"{PROBLEM_TYPE_PREFIX}body-too-large"


class BodyTooLarge(HTTPException):  # an answer (413), not a failure of ours
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _detail(max_bytes))
        self.max_bytes = max_bytes


def _detail(max_bytes: int) -> str:
    return f"The request body is larger than the limit of {max_bytes} bytes."


def body_too_large_response(scope: Scope, max_bytes: int) -> Response:
    return problem_response(
        413,
        _detail(max_bytes),
        type_=BODY_TOO_LARGE_TYPE,
        instance=scope.get("path"),
        max_bytes=max_bytes,
    )


async def _on_body_too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTooLarge)
    return body_too_large_response(request.scope, exc.max_bytes)


def install_body_limit(app: FastAPI, *, max_body_bytes: int) -> None:
    """The limit middleware (outermost of the middleware added so far) and the handler that
    answers :class:`BodyTooLarge` raised while the app reads the body."""
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_exception_handler(BodyTooLarge, _on_body_too_large)


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await body_too_large_response(scope, self.max_body_bytes)(scope, receive, send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if response_started:
                raise
            await body_too_large_response(scope, exc.max_bytes)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

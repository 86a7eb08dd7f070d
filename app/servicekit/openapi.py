"""The OpenAPI document says what the service really answers, errors included.

Every error either service sends is an RFC 9457 problem document (``servicekit.problems``), as
``application/problem+json``. FastAPI's generated document knows none of that: it lists a 422
``HTTPValidationError`` (a shape nobody sends) and no other error. Two pieces fix it:

- ``problem_responses(401, 403, ...)``: the ``responses=`` of a route, for the statuses its own
  code (and its dependencies) can answer.
- ``install_openapi(app)`` (``prepare_service`` calls it): completes every operation with the
  statuses the shared machinery answers, whatever the route: 422 for invalid parameters or body
  (FastAPI's ``HTTPValidationError`` replaced by the problem schema), 400 for a JSON or
  multipart body that cannot be parsed, 413 from the body-size limit for every operation with a
  body, and 500 for the unexpected. It adds the ``Problem`` schema to the components.

The contract tests (tests/contract) hold both services to their documents with schemathesis.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from servicekit.problems import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA_NAME = "Problem"
FIELD_ERROR_SCHEMA_NAME = "FieldError"
_REF_PREFIX = "#/components/schemas/"
PROBLEM_REF = {"$ref": f"{_REF_PREFIX}{PROBLEM_SCHEMA_NAME}"}

# What servicekit.problems.problem_response writes; extension members (``errors``, ``retry``,
# ``document_id``, ``missing_steps``, ``allowed``, ``max_bytes``, ...) come on top.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM_SCHEMA_NAME,
    "type": "object",
    "description": (
        "RFC 9457 problem details. Operations add extension members, e.g. `errors` on "
        "validation errors, `retry` and `document_id` on tagging failures, `missing_steps` on "
        "an incomplete application."
    ),
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": "`urn:loan-desk:problem:<slug>`, stable per kind of problem; "
            "`about:blank` when the status says it all.",
        },
        "title": {"type": "string", "description": "Short summary of the kind of problem."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "instance": {"type": "string", "description": "The request path."},
        "errors": {
            "type": "array",
            "description": "Validation errors: one entry per invalid field. The submitted "
            "values are never echoed.",
            "items": {"$ref": f"{_REF_PREFIX}{FIELD_ERROR_SCHEMA_NAME}"},
        },
    },
    "additionalProperties": True,
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": FIELD_ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["field", "message", "type"],
    "properties": {
        "field": {
            "type": "string",
            "description": "Where: `body.<name>`, `path.<name>`, `header.<name>`, ...",
        },
        "message": {"type": "string"},
        "type": {
            "type": "string",
            "description": "Machine-readable kind, e.g. `missing`, `control_character`.",
        },
    },
    "additionalProperties": False,
}

DESCRIPTIONS: dict[int, str] = {
    400: "The body cannot be parsed: malformed JSON, or a multipart body that cannot be read.",
    401: "No valid bearer token.",
    403: "The token is valid, but not for this resource.",
    404: "No such resource.",
    409: "The request conflicts with the resource's current state.",
    413: "The request body is larger than the limit (`max_bytes`).",
    415: "The media type is not accepted (`allowed` lists those that are).",
    422: "Invalid request: `errors` lists each invalid field (validation), or the request "
    "breaks a business rule (the `type` says which).",
    500: "An unexpected error. It is logged; the answer names no cause.",
    502: "A service this one depends on failed.",
    503: "A dependency of this service is not reachable.",
    504: "A service this one depends on did not answer in time.",
}

# FastAPI's own 422 schema, replaced wherever it appears.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_PARSED_BODY_MEDIA_TYPES = ("application/json", "multipart/form-data")


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response object: ``application/problem+json`` with the ``Problem`` schema."""
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": dict(PROBLEM_REF)}},
    }
    if status == 401:
        # RFC 9110 section 15.5.2: a 401 carries the challenge.
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "The authentication scheme: `Bearer`.",
                "schema": {"type": "string"},
            }
        }
    return response


def problem_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problem statuses its own code can answer."""
    described = dict(descriptions or {})
    unknown = set(described) - set(statuses)
    if unknown:
        raise ValueError(f"descriptions for statuses not listed: {sorted(unknown)}")
    return {status: problem_response(status, described.get(status)) for status in statuses}


def _complete_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in list(responses.items()):
        schemas = [
            content.get("schema", {}).get("$ref", "")
            for content in response.get("content", {}).values()
        ]
        if any(ref.endswith(_FASTAPI_VALIDATION_SCHEMAS) for ref in schemas):
            responses[status] = problem_response(int(status))
    body = operation.get("requestBody")
    if body is not None:
        if any(media in body.get("content", {}) for media in _PARSED_BODY_MEDIA_TYPES):
            responses.setdefault("400", problem_response(400))
        responses.setdefault("413", problem_response(413))
    if body is not None or operation.get("parameters"):
        responses.setdefault("422", problem_response(422))
    responses.setdefault("500", problem_response(500))
    operation["responses"] = dict(sorted(responses.items()))


def complete_document(document: dict[str, Any]) -> dict[str, Any]:
    """Add the shared error responses and the ``Problem`` schema to a FastAPI document."""
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                _complete_operation(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[PROBLEM_SCHEMA_NAME] = PROBLEM_SCHEMA
    schemas[FIELD_ERROR_SCHEMA_NAME] = FIELD_ERROR_SCHEMA
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at the app's ``openapi_url`` (built once, then cached)."""
    build_default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_document(build_default())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

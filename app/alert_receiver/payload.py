"""Alertmanager's webhook payload, version 4, and its validation.

The shape, checked against prometheus/alertmanager at v0.35.1 (.env ALERTMANAGER_TAG; the search
index holds no copy pinned to that tag, so the nearest stored versions were read):

- ``notify/webhook/webhook.go``: ``Message`` = ``*template.Data`` + ``version`` (always "4"),
  ``groupKey``, ``truncatedAlerts`` (alerts left out by the receiver's ``max_alerts``).
- ``template/template.go``: ``Data`` = ``receiver``, ``status`` (firing|resolved), ``alerts``,
  ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL`` (newer releases add
  ``notification_reason``); ``Alert`` = ``status``, ``labels``, ``annotations``, ``startsAt``,
  ``endsAt`` (RFC 3339, Go's zero time when unset), ``generatorURL``, ``fingerprint`` (16 hex
  digits, ``model.Fingerprint.String``).

Unknown fields are ignored, so a release that adds one still gets through. The fields the
receiver never logs (``receiver``, ``groupKey``, ``externalURL``, the group's and common labels
and annotations) are checked for their type and then dropped: they are excluded from ``repr`` and
from every dump, because ``externalURL`` may carry credentials and ``receiver`` names a config.

Bounds, so that one hostile request cannot flood the logs (each alert becomes one log line, and
Loki refuses a line whose structured metadata passes 64 KB, ``max_structured_metadata_size``):
at most ``MAX_ALERTS`` alerts, ``MAX_PAIRS`` labels and ``MAX_PAIRS`` annotations per alert, names
of at most ``MAX_NAME_CHARS``; longer values are accepted and cut in the log line
(notifications.py). The body as a whole is limited by servicekit's body-size middleware.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

__all__ = [
    "KEYED_FIELDS",
    "MAX_ALERTS",
    "MAX_NAME_CHARS",
    "MAX_PAIRS",
    "Alert",
    "Notification",
    "PayloadProblem",
    "parse_notification",
]

#: The only payload version Alertmanager sends (webhook.go: ``Version: "4"``).
VERSION: Final = "4"
MAX_ALERTS: Final = 1000
MAX_PAIRS: Final = 32
MAX_NAME_CHARS: Final = 128
# Maps whose keys come from the sender: an error location never echoes such a key.
KEYED_FIELDS: Final = frozenset(
    {"labels", "annotations", "groupLabels", "commonLabels", "commonAnnotations"}
)
_MAX_REPORTED_ERRORS: Final = 20

Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]
Pairs = Annotated[dict[Name, str], Field(max_length=MAX_PAIRS)]
Status = Literal["firing", "resolved"]


def _rfc3339_text(value: Any) -> Any:
    # JSON carries times as RFC 3339 strings (Go's time.Time MarshalJSON); a number would pass
    # pydantic's lax mode as Unix seconds.
    if not isinstance(value, str):
        raise ValueError("a time must be an RFC 3339 string")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339_text)]


class Alert(BaseModel):
    """One alert of a notification (template.go ``Alert``); ``generatorURL`` is not read."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    status: Status
    labels: Pairs
    annotations: Pairs = Field(default_factory=dict)
    starts_at: Timestamp = Field(alias="startsAt")
    ends_at: Timestamp = Field(alias="endsAt")
    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")]


class Notification(BaseModel):
    """One webhook call (webhook.go ``Message``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    version: Literal["4"]
    status: Status
    alerts: Annotated[list[Alert], Field(min_length=1, max_length=MAX_ALERTS)]
    truncated_alerts: int = Field(default=0, ge=0, strict=True, alias="truncatedAlerts")
    # Type-checked, never logged, never shown.
    receiver: str = Field(default="", exclude=True, repr=False)
    group_key: str = Field(default="", alias="groupKey", exclude=True, repr=False)
    external_url: str = Field(default="", alias="externalURL", exclude=True, repr=False)
    group_labels: Pairs = Field(default_factory=dict, alias="groupLabels", exclude=True, repr=False)
    common_labels: Pairs = Field(
        default_factory=dict, alias="commonLabels", exclude=True, repr=False
    )
    common_annotations: Pairs = Field(
        default_factory=dict, alias="commonAnnotations", exclude=True, repr=False
    )


class PayloadProblem(Exception):  # noqa: N818 - a verdict on the request, turned into a 4xx
    """Why a body is not a notification: a status, a problem slug and a detail that quotes
    nothing from the body."""

    def __init__(
        self, status: int, slug: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = errors or []


def _location(loc: tuple[int | str, ...]) -> str:
    """A dotted error location in which every sender-chosen map key reads ``*``."""
    parts: list[str] = []
    hide_next = False
    for part in loc:
        if hide_next:
            parts.append("*")
            hide_next = False
            continue
        parts.append(str(part))
        hide_next = part in KEYED_FIELDS
    return ".".join(parts)


def sanitized_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Location, message and type of the first errors: never the input, never a map key."""
    out = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        out.append(
            {
                "field": _location(tuple(error["loc"])),
                "message": str(error["msg"]),
                "type": str(error["type"]),
            }
        )
        if len(out) == _MAX_REPORTED_ERRORS:
            break
    return out


def parse_notification(body: bytes) -> Notification:
    """The notification in ``body`` (JSON), or :class:`PayloadProblem` with a 400 or 422."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        # UnicodeDecodeError and the int-digits limit are ValueErrors; deep nesting recurses.
        raise PayloadProblem(400, "malformed-json", "The request body is not valid JSON.") from None
    if isinstance(document, dict) and "version" in document and document["version"] != VERSION:
        raise PayloadProblem(
            422,
            "unsupported-version",
            f"This receiver reads version {VERSION} of Alertmanager's webhook payload.",
        )
    try:
        return Notification.model_validate(document)
    except ValidationError as exc:
        errors = sanitized_errors(exc)
        fields = ", ".join(sorted({e["field"] or "body" for e in errors}))
        raise PayloadProblem(
            422,
            "invalid-notification",
            f"The body is not an Alertmanager webhook notification (version 4); invalid: {fields}.",
            errors,
        ) from None


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {k: _inline_refs(v, definitions) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, definitions) for v in node]
    return node


def request_schema() -> dict[str, Any]:
    """The JSON schema of the body, self-contained, for the OpenAPI document."""
    schema = Notification.model_json_schema(by_alias=True, mode="validation")
    inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    return inlined

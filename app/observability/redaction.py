"""One list of sensitive keys, used for log lines, OTLP log records and span attributes.

A key is sensitive when its last dotted segment, lower-cased with ``-`` read as ``_``, is in
:data:`SENSITIVE_KEYS` (so ``Authorization``, ``http.request.header.authorization`` and
``applicant.date_of_birth`` all match). Values under a sensitive key are replaced by
:data:`REDACTED`; mappings and lists are walked. Query strings (``url.query``, ``url.full``) keep
their parameter names but lose the values of sensitive parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"

#: The one place that says what never leaves the process. Extend it here, not at call sites.
SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        # credentials
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "x_api_key",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "credentials",
        "session",
        "private_key",
        # personal details
        "date_of_birth",
        "dob",
        "birth_date",
        "place_of_birth",
        "email",
        "email_address",
        "phone",
        "phone_number",
        "iban",
        "fiscal_code",
        "tax_id",
        "ssn",
        "street",
        "house_number",
        "postcode",
        "first_name",
        "last_name",
        "full_name",
    }
)

# Attributes whose value is a URL or query string: redact sensitive parameters, keep the rest.
_URL_KEYS = frozenset({"url.full", "http.url", "http.target"})
_QUERY_KEYS = frozenset({"url.query"})


# Keys repeat (the same event fields and span attributes on every request): the answer is kept
# per key. Bounded: cleared when full, in case some caller makes keys from data.
_SENSITIVE_CACHE: dict[str, bool] = {}
_SENSITIVE_CACHE_SIZE = 4096


def is_sensitive_key(key: str) -> bool:
    """True when ``key`` (any case, dotted or dashed) names a sensitive value."""
    known = _SENSITIVE_CACHE.get(key)
    if known is not None:
        return known
    last = key.rsplit(".", 1)[-1]
    sensitive = last.lower().replace("-", "_") in SENSITIVE_KEYS
    if len(_SENSITIVE_CACHE) >= _SENSITIVE_CACHE_SIZE:
        _SENSITIVE_CACHE.clear()
    _SENSITIVE_CACHE[key] = sensitive
    return sensitive


def redact_query(query: str) -> str:
    """Redact the values of sensitive parameters in a query string (without the ``?``)."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(is_sensitive_key(name) for name, _ in pairs):
        return query
    return urlencode([(n, REDACTED if is_sensitive_key(n) else v) for n, v in pairs])


def redact_url(url: str) -> str:
    """Redact user info and sensitive query parameters of a URL."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = redact_query(parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` with sensitive values replaced, nested mappings and lists walked."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(key, str) and is_sensitive_key(key):
            out[key] = REDACTED
        else:
            out[key] = _redact_value(value)
    return out


def redact_attributes(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """Redacted copy of OTel attributes, or ``None`` when nothing needed redacting (fast path)."""
    changed: dict[str, Any] | None = None
    for key, value in attributes.items():
        new = value
        if is_sensitive_key(key):
            new = REDACTED
        elif isinstance(value, str):
            if key in _QUERY_KEYS:
                new = redact_query(value)
            elif key in _URL_KEYS:
                new = redact_url(value)
        if new is not value and new != value:
            if changed is None:
                changed = dict(attributes)
            changed[key] = new
    return changed


def redact_event_dict(_logger: Any, _method: str, event_dict: Any) -> Any:
    """structlog processor: redact sensitive keys (``_``-prefixed internal keys are kept)."""
    for key, value in list(event_dict.items()):
        if key[:1] == "_":
            continue
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, dict | list | tuple | Mapping):
            event_dict[key] = _redact_value(value)
    return event_dict

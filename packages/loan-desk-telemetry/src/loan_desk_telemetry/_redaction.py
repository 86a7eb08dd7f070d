"""One list of sensitive keys, used for log lines, OTLP log records and span attributes.

A key is sensitive when its last dotted segment, lower-cased with ``-`` read as ``_``, is in
:data:`SENSITIVE_KEYS` (so ``Authorization``, ``http.request.header.authorization`` and
``applicant.date_of_birth`` all match). Values under a sensitive key are replaced by
:data:`REDACTED`; mappings and lists are walked. Query strings (``url.query``, ``url.full``) keep
their parameter names but lose the values of sensitive parameters.

Exception text is free text, so keys cannot find the values in it: :func:`redact_text` removes
them by shape instead (the value parts of database driver messages, ``key=value`` pairs whose key
is in :data:`SENSITIVE_KEYS`, e-mail addresses, bearer credentials, URL user info and sensitive
query parameters), keeping what diagnoses the fault (exception type, constraint and column names,
the SQL with its placeholders). :func:`exception_text` is the traceback every sink records: log
lines, OTLP log records, span exception events and span status (see the package README,
"What reaches telemetry on error paths").
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger

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


def redact_event_dict(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact sensitive keys (``_``-prefixed internal keys are kept)."""
    for key, value in list(event_dict.items()):
        if key[:1] == "_":
            continue
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, dict | list | tuple | Mapping):
            event_dict[key] = _redact_value(value)
    return event_dict


# --- free text: exception messages and tracebacks ---------------------------------------------

# SQLAlchemy's StatementError appends "[parameters: (...)]" (sqlalchemy/exc.py, 2.0.58,
# StatementError._sql_message) unless the engine has hide_parameters=True.
_SQL_PARAMETERS: Final = re.compile(r"\[parameters: [^\n]*\]")
# PostgreSQL's DETAIL field carries the row values: "Key (email)=(a@b.c) already exists.",
# "Failing row contains (...)." (backend/utils/adt/ri_triggers.c, access/nbtree/nbtinsert.c,
# executor/execMain.c); asyncpg puts it on its own line after the message.
_PG_DETAIL: Final = re.compile(r"^(DETAIL:\s+)(.*)$", re.MULTILINE)
_PG_KEY: Final = re.compile(r"Key \((?P<columns>[^)]*)\)=\(")
_PG_KEY_OUTCOME: Final = re.compile(
    r"\) (already exists|is not present in table \"[^\"]*\"|"
    r"is still referenced from table \"[^\"]*\"|conflicts with existing key)"
)
# PostgreSQL: invalid input syntax for type integer: "abc" / invalid input value for enum x: "y".
_PG_INVALID_INPUT: Final = re.compile(r'(invalid input (?:syntax|value) for [^:\n]*: )"[^\n]*"')
# asyncpg's client-side encoding error: invalid input for query argument $2: 'abc' (reason).
_ASYNCPG_ARGUMENT: Final = re.compile(r"(invalid input for query argument \$\d+: )[^\n]*")
# pydantic's ValidationError: [type=..., input_value='abc', input_type=str].
_PYDANTIC_INPUT: Final = re.compile(r"(input_value=)[^\n]*?(?=, input_type=)")
_PYDANTIC_INPUT_REST: Final = re.compile(r"(input_value=)(?!\[REDACTED\])[^\n\]]*")
_URL: Final = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]]+")
# 'email': 'a@b.c', email='a@b.c', "token": "..." (quoted values: dict and keyword reprs, JSON).
_KEYED_QUOTED: Final = re.compile(
    r"""(?P<q>['"]?)(?P<key>[A-Za-z_][\w.-]*)(?P=q)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<val>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
)
# password=... and the like unquoted, as in connection strings (no blanks around "=": a source
# line of the traceback such as "token = await ..." is code, not a value).
_KEYED_BARE: Final = re.compile(
    r"\b(?P<key>password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|"
    r"id_token|api_key|apikey)(?P<sep>=)(?P<val>(?!\[REDACTED\])[^\s'\"&,;)]+)",
    re.IGNORECASE,
)
_CREDENTIAL: Final = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_EMAIL: Final = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")


def _pg_detail(match: re.Match[str]) -> str:
    prefix, detail = match.group(1), match.group(2)
    key = _PG_KEY.match(detail)
    if key is None:
        return f"{prefix}{REDACTED}"
    outcomes = list(_PG_KEY_OUTCOME.finditer(detail))
    outcome = f" {outcomes[-1].group(1)}." if outcomes else ""
    return f"{prefix}Key ({key.group('columns')})=({REDACTED}){outcome}"


def _keyed_quoted(match: re.Match[str]) -> str:
    if not is_sensitive_key(match.group("key")):
        return match.group(0)
    quote = match.group("val")[0]
    q = match.group("q")
    return f"{q}{match.group('key')}{q}{match.group('sep')}{quote}{REDACTED}{quote}"


def redact_text(text: str) -> str:
    """Free text (an exception message, a traceback, a span status) without the values in it.

    Removes SQL parameters, the value parts of PostgreSQL/asyncpg/pydantic messages, quoted
    values of sensitive keys (``'email': '...'``, ``token="..."``), unquoted credentials
    (``password=...``), bearer/basic credentials, e-mail addresses, and URL user info and
    sensitive query parameters. Type names, constraint and column names and the SQL with its
    placeholders stay, so the text still says what went wrong.
    """
    if not text:
        return text
    text = _SQL_PARAMETERS.sub(f"[parameters: {REDACTED}]", text)
    text = _PG_DETAIL.sub(_pg_detail, text)
    text = _PG_INVALID_INPUT.sub(rf'\1"{REDACTED}"', text)
    text = _ASYNCPG_ARGUMENT.sub(rf"\1{REDACTED}", text)
    text = _PYDANTIC_INPUT.sub(rf"\1{REDACTED}", text)
    text = _PYDANTIC_INPUT_REST.sub(rf"\1{REDACTED}", text)
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _KEYED_QUOTED.sub(_keyed_quoted, text)
    text = _KEYED_BARE.sub(rf"\g<key>\g<sep>{REDACTED}", text)
    text = _CREDENTIAL.sub(rf"\1 {REDACTED}", text)
    return _EMAIL.sub(REDACTED, text)


def exception_text(exc: BaseException) -> str:
    """The traceback of ``exc`` with its causes, as ``traceback.format_exception`` renders it
    (no local variables), through :func:`redact_text`."""
    return redact_text("".join(traceback.format_exception(exc)))


def exception_message(exc: BaseException) -> str:
    """``str(exc)`` through :func:`redact_text`."""
    return redact_text(str(exc))

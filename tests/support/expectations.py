"""What the application flow must produce in every backend: declared once, checked everywhere.

Target 1 (tests/telemetry, no Docker) checks these declarations against an OTLP receiver and a
real Prometheus; target 2 (tests/live) against Tempo, Loki, Prometheus and Grafana of the
compose stack. Both drive the same traffic (`drive_flows`), sending a W3C ``traceparent`` of
their own with every request, so each request's trace id is known before it is sent and a run
only ever looks at its own traces.

Shape of the declaration
------------------------
- `FLOW`: one applicant's walk through the api, as `Step`s (method, route template, expected
  status). Each step is its own trace.
- `TRACES`: per step, a `TraceSpec`: the spans (`SpanSpec`: service, name, kind, parent, attributes)
  with their parent/child edges, and the log records (`LogSpec`: service, message, level, the span
  it is logged in), all carrying the step's trace id.
- `COUNTERS`: Prometheus series and how much each must grow per flow (exact, not ``>= 0``).
- `EXEMPLARS`: histogram series whose exemplars must point at one of the run's traces.
- `sensitive_values`: what must never appear in any span, log record or metric.
- `UNAVAILABLE_QUERIES`: PromQL the no-Docker target cannot answer, with the reason.
- Arrival times (`measure_arrival`): how long after each response its telemetry can be found,
  per signal (`Probe`), summarised as p50/p95/max (`Latency`). Figures to print, held only to a
  generous bound (`arrival_problems`), never to a target.

The checkers (`*_problems`) are pure functions that return a list of problems (empty = fine), so
the negative tests can feed them wrong expectations and see them fail.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final

import httpx

from tests.support.documents import pdf
from tests.support.flows import ADDRESS, PERSONAL_DETAILS, application_body

API: Final = "loan-api"
TAGGER: Final = "doc-tagger"

# --- records: what every backend's answer is flattened into ---------------------------------


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str  # "" for a root span
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0  # 0 unset, 1 ok, 2 error
    events: tuple[Any, ...] = ()


@dataclass(frozen=True)
class LogRecord:
    trace_id: str
    span_id: str
    severity_text: str
    body: str
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)


# --- the declaration --------------------------------------------------------------------------

ANY: Final = object()  # attribute must be present, any value
REMOTE: Final = "<remote>"  # parent is the span id of the traceparent the client sent
DB: Final = re.compile(r"^(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|connect)\b")

APPLICATIONS = "/api/v1/applications"
APPLICATION = "/api/v1/applications/{application_id}"
DOCUMENTS = f"{APPLICATION}/documents"
TAGS = "/api/v1/tags"


@dataclass(frozen=True)
class Step:
    key: str
    method: str
    route: str
    status: int


FLOW: Final = (
    Step("create", "POST", APPLICATIONS, 201),
    Step("personal_details", "PUT", f"{APPLICATION}/personal-details", 200),
    Step("address", "PUT", f"{APPLICATION}/current-address", 200),
    Step("upload", "POST", DOCUMENTS, 201),
    Step("invite", "POST", f"{APPLICATION}/invite", 202),
)


@dataclass(frozen=True)
class SpanSpec:
    key: str
    service: str
    name: str | re.Pattern[str]
    kind: str
    parent: str | None  # key of the parent span, REMOTE, or None for a root span
    attributes: Mapping[str, Any] = field(default_factory=dict)
    # exactly this many spans match; None: any number (database spans, whose count is the
    # driver's business)
    count: int | None = 1

    def matches(self, span: SpanRecord) -> bool:
        if span.service != self.service or span.kind != self.kind:
            return False
        if isinstance(self.name, re.Pattern):
            return bool(self.name.search(span.name))
        return span.name == self.name


@dataclass(frozen=True)
class LogSpec:
    service: str
    message: str
    level: str  # upper case, as OTLP severity_text
    span: str  # key of the SpanSpec whose span id the record carries
    attributes: Mapping[str, Any] = field(default_factory=dict)
    count: int = 1


@dataclass(frozen=True)
class TraceSpec:
    step: str
    spans: tuple[SpanSpec, ...]
    logs: tuple[LogSpec, ...]


def _server(step: Step, service: str = API, *, parent: str = REMOTE) -> SpanSpec:
    return SpanSpec(
        "server",
        service,
        f"{step.method} {step.route}",
        "SERVER",
        parent,
        {
            "http.request.method": step.method,
            "http.route": step.route,
            "http.response.status_code": step.status,
        },
    )


def _access(span: str = "server", service: str = API) -> LogSpec:
    return LogSpec(service, "request", "INFO", span)


def _db(parent: str) -> SpanSpec:
    return SpanSpec(f"db<{parent}>", API, DB, "CLIENT", parent, {"db.system": ANY}, count=None)


_STEPS = {step.key: step for step in FLOW}

TRACES: Final = {
    "create": TraceSpec(
        "create",
        spans=(
            _server(_STEPS["create"]),
            SpanSpec(
                "create",
                API,
                "applications.create",
                "INTERNAL",
                "server",
                {"application.id": ANY, "loan.product": "mortgage", "loan.api_version": "v1"},
            ),
            _db("create"),
        ),
        logs=(
            LogSpec(
                API,
                "application.created",
                "INFO",
                "server",
                {"product": "mortgage", "api_version": "v1"},
            ),
            _access(),
        ),
    ),
    "personal_details": TraceSpec(
        "personal_details",
        spans=(
            _server(_STEPS["personal_details"]),
            _db("server"),  # the bearer-token lookup
            SpanSpec(
                "details",
                API,
                "applications.submit_personal_details",
                "INTERNAL",
                "server",
                {"application.id": ANY},
            ),
            _db("details"),
        ),
        logs=(LogSpec(API, "application.personal_details_submitted", "INFO", "server"), _access()),
    ),
    "address": TraceSpec(
        "address",
        spans=(
            _server(_STEPS["address"]),
            _db("server"),
            SpanSpec(
                "address",
                API,
                "applications.submit_current_address",
                "INTERNAL",
                "server",
                {"application.id": ANY, "address.country": "DE"},
            ),
            _db("address"),
        ),
        logs=(LogSpec(API, "application.address_submitted", "INFO", "server"), _access()),
    ),
    # api server span -> documents.upload -> documents.tag -> httpx client span -> tagger server
    # span -> tagger.tag_document: one trace across both services.
    "upload": TraceSpec(
        "upload",
        spans=(
            _server(_STEPS["upload"]),
            _db("server"),
            SpanSpec(
                "upload",
                API,
                "documents.upload",
                "INTERNAL",
                "server",
                {
                    "application.id": ANY,
                    "document.id": ANY,
                    "document.kind": "id",
                    "document.media_type": "application/pdf",
                    "document.size_bytes": ANY,
                },
            ),
            _db("upload"),
            SpanSpec(
                "tag",
                API,
                "documents.tag",
                "INTERNAL",
                "upload",
                {"document.kind": "id", "tagging.outcome": "tagged", "document.type": "passport"},
            ),
            _db("tag"),
            SpanSpec(
                "client",
                API,
                "POST",
                "CLIENT",
                "tag",
                {"http.request.method": "POST", "http.response.status_code": 200},
            ),
            SpanSpec(
                "tagger_server",
                TAGGER,
                f"POST {TAGS}",
                "SERVER",
                "client",
                {"http.route": TAGS, "http.response.status_code": 200},
            ),
            SpanSpec(
                "tagger_tag",
                TAGGER,
                "tagger.tag_document",
                "INTERNAL",
                "tagger_server",
                {"document.kind": "id", "tagging.outcome": "tagged", "document.type": "passport"},
            ),
        ),
        logs=(
            LogSpec(API, "document.uploaded", "INFO", "upload", {"kind": "id"}),
            LogSpec(API, "document.tagged", "INFO", "tag", {"document_type": "passport"}),
            _access(),
            LogSpec(TAGGER, "tagging.done", "INFO", "tagger_server", {"document_type": "passport"}),
            _access("tagger_server", TAGGER),
        ),
    ),
    "invite": TraceSpec(
        "invite",
        spans=(
            _server(_STEPS["invite"]),
            _db("server"),
            SpanSpec(
                "invite",
                API,
                "notifications.send_invite",
                "INTERNAL",
                "server",
                {"application.id": ANY},
            ),
            _db("invite"),
        ),
        logs=(
            LogSpec(API, "email.sent", "INFO", "invite", {"recipient_domain": "example.com"}),
            _access(),
        ),
    ),
}


@dataclass(frozen=True)
class Series:
    metric: str
    labels: Mapping[str, str]
    per_flow: int = 1

    def selector(self, extra: Mapping[str, str] | None = None) -> str:
        labels = dict(self.labels) | dict(extra or {})
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{self.metric}{{{inner}}}"


def _route_count(step: Step, service: str = API) -> Series:
    return Series(
        "http_request_duration_seconds_count",
        {
            "app_name": service,
            "method": step.method,
            "route": step.route,
            "status_code": str(step.status),
        },
    )


COUNTERS: Final = (
    *(_route_count(step) for step in FLOW),
    Series(
        "http_request_duration_seconds_count",
        {"app_name": TAGGER, "method": "POST", "route": TAGS, "status_code": "200"},
    ),
    Series("loan_applications_created_total", {"api_version": "v1", "product": "mortgage"}),
    Series("loan_documents_tagged_total", {"kind": "id", "document_type": "passport"}),
)

# Exemplars of these histograms must carry the trace id of one of the run's traces of that step.
EXEMPLARS: Final = (
    (
        "upload",
        Series(
            "http_request_duration_seconds_bucket",
            {"app_name": API, "route": DOCUMENTS, "method": "POST", "status_code": "201"},
        ),
    ),
    (
        "create",
        Series(
            "http_request_duration_seconds_bucket",
            {"app_name": API, "route": APPLICATIONS, "method": "POST", "status_code": "201"},
        ),
    ),
)

RESOURCE_KEYS: Final = (
    "service.name",
    "service.version",
    "service.instance.id",
    "deployment.environment.name",
)


# PromQL of the dashboards and rules that the no-Docker target cannot answer, by the part of the
# stack that produces the series (tests/support/dashboards.data_sources names the parts).
UNAVAILABLE_SOURCES: Final = {
    "collector": "otelcol_* series come from the OpenTelemetry Collector's own metrics; "
    "target 1 replaces the collector with an in-process OTLP receiver",
    "loki": "loki_* series come from Loki, which runs only in the compose stack",
    "tempo": "tempo_* series come from Tempo, which runs only in the compose stack",
    "tempo metrics generator": "traces_spanmetrics_* / traces_service_graph_* are remote-written "
    "by Tempo's metrics generator, only in the compose stack",
    "alertmanager": "alertmanager_* series come from Alertmanager, which runs only in the compose "
    "stack",
    "alert receiver": "alert_receiver_* series come from the alert receiver, which target 1 does "
    "not run",
    "otel sdk": "http_server_* and target_info come from a service instrumented with the "
    "OpenTelemetry SDK, which target 1 does not run (tests/telemetry/test_red_sources.py does)",
}
# Series that exist only after something that a healthy run must not do.
UNAVAILABLE_METRICS: Final = {
    "http_request_exceptions_total": "a labelled counter has no series before its first "
    "increment, and the flow raises no unhandled exception",
}


# --- traffic ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentTrace:
    """The trace context a request was sent with: the api's server span continues it."""

    step: str
    trace_id: str
    parent_span_id: str

    @classmethod
    def new(cls, step: str) -> SentTrace:
        return cls(step, secrets.token_hex(16), secrets.token_hex(8))

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.parent_span_id}-01"


@dataclass(frozen=True)
class FlowRun:
    application_id: str
    token: str
    traces: dict[str, SentTrace]


@dataclass(frozen=True)
class Answered:
    """When the response to one request of a flow was back: on the monotonic clock (durations)
    and on the wall clock (to compare with a backend's own timestamps)."""

    step: str
    trace: SentTrace
    monotonic: float
    wall: float


def drive_flows(
    client: httpx.Client,
    n: int,
    *,
    pause: Callable[[], float] | None = None,
    answered: Callable[[Answered], None] | None = None,
) -> list[FlowRun]:
    """Walk `FLOW` ``n`` times through the api at ``client.base_url``; each request sends its
    own ``traceparent``. Fails (AssertionError) on any unexpected status. ``answered`` is called
    as soon as each response is back, then the walk sleeps ``pause()`` seconds."""
    runs = []
    for _ in range(n):
        traces = {step.key: SentTrace.new(step.key) for step in FLOW}

        def call(
            step: Step, path: str, traces: dict[str, SentTrace] = traces, **kwargs: Any
        ) -> Any:
            headers = {"traceparent": traces[step.key].traceparent, **kwargs.pop("headers", {})}
            response = client.request(step.method, path, headers=headers, **kwargs)
            back = Answered(step.key, traces[step.key], time.monotonic(), time.time())
            assert response.status_code == step.status, (step.key, response.text)
            if answered is not None:
                answered(back)
            if pause is not None:
                time.sleep(pause())
            return response

        created = call(_STEPS["create"], APPLICATIONS, json=application_body()).json()
        path, auth = (
            f"{APPLICATIONS}/{created['id']}",
            {"Authorization": f"Bearer {created['token']}"},
        )
        call(
            _STEPS["personal_details"],
            f"{path}/personal-details",
            json=PERSONAL_DETAILS,
            headers=auth,
        )
        call(_STEPS["address"], f"{path}/current-address", json=ADDRESS, headers=auth)
        uploaded = call(
            _STEPS["upload"],
            f"{path}/documents",
            headers=auth,
            files={"file": ("passport.pdf", pdf("Passport"), "application/pdf")},
            data={"kind": "id"},
        ).json()
        assert uploaded["status"] == "tagged", uploaded
        call(_STEPS["invite"], f"{path}/invite", headers=auth)
        runs.append(FlowRun(created["id"], created["token"], traces))
    return runs


def sensitive_values(runs: Iterable[FlowRun]) -> list[str]:
    """Values the flow sends that must never leave the api in telemetry."""
    body = application_body()
    values = [
        body["email"],
        PERSONAL_DETAILS["date_of_birth"],
        ADDRESS["street"],
        "Musterstra",  # the street without its non-ASCII tail (escaped in JSON)
    ]
    values += [run.token for run in runs]
    return values


TOKEN_PATTERN: Final = re.compile(r"lda_[A-Za-z0-9_\-]{20,}")


# --- checkers ---------------------------------------------------------------------------------


def _attribute_problems(where: str, want: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, value in want.items():
        if key not in got:
            problems.append(f"{where}: attribute {key!r} missing (has {sorted(got)})")
        elif value is not ANY and got[key] != value:
            problems.append(f"{where}: attribute {key}={got[key]!r}, expected {value!r}")
    return problems


def match_spans(spec: TraceSpec, spans: Sequence[SpanRecord]) -> dict[str, list[SpanRecord]]:
    """Spans by the key of the first `SpanSpec` they match ("" for none)."""
    matched: dict[str, list[SpanRecord]] = {s.key: [] for s in spec.spans}
    matched[""] = []
    for span in spans:
        # a span matching several specs (database spans under different parents) goes to the
        # spec whose parent it has
        candidates = [s for s in spec.spans if s.matches(span)]
        key = candidates[0].key if candidates else ""
        if len(candidates) > 1:
            by_id = {sp.span_id: sp for sp in spans}
            parent = by_id.get(span.parent_span_id)
            for candidate in candidates:
                parent_spec = next((p for p in spec.spans if p.key == candidate.parent), None)
                if parent is not None and parent_spec is not None and parent_spec.matches(parent):
                    key = candidate.key
                    break
        matched[key].append(span)
    return matched


def trace_problems(spec: TraceSpec, sent: SentTrace, spans: Sequence[SpanRecord]) -> list[str]:
    """The spans of one trace against its declaration: names, kinds, exact counts, every
    parent/child edge, attributes, and nothing undeclared."""
    where = f"trace {sent.trace_id} ({spec.step})"
    problems = [
        f"{where}: span {s.name!r} has trace id {s.trace_id}"
        for s in spans
        if s.trace_id != sent.trace_id
    ]
    spans = [s for s in spans if s.trace_id == sent.trace_id]
    matched = match_spans(spec, spans)
    problems += [
        f"{where}: undeclared span {s.service}/{s.kind}/{s.name!r}" for s in matched.pop("")
    ]
    by_key = {s.key: s for s in spec.spans}
    for key, found in matched.items():
        want = by_key[key]
        if want.count is not None and len(found) != want.count:
            problems.append(
                f"{where}: {len(found)} span(s) {want.service}/{want.kind}/{want.name!r}, "
                f"expected {want.count}"
            )
        for span in found:
            problems += _attribute_problems(
                f"{where} span {span.name!r}", want.attributes, span.attributes
            )
            if want.parent is None:
                if span.parent_span_id:
                    problems.append(f"{where}: span {span.name!r} should be a root span")
            elif want.parent == REMOTE:
                if span.parent_span_id != sent.parent_span_id:
                    problems.append(
                        f"{where}: span {span.name!r} has parent {span.parent_span_id or None}, "
                        f"expected the client's span {sent.parent_span_id}"
                    )
            else:
                parents = {p.span_id for p in matched.get(want.parent, [])}
                if span.parent_span_id not in parents:
                    problems.append(
                        f"{where}: span {span.name!r} is not a child of "
                        f"{by_key[want.parent].name!r}"
                    )
    return problems


def log_problems(
    spec: TraceSpec, sent: SentTrace, logs: Sequence[LogRecord], spans: Sequence[SpanRecord]
) -> list[str]:
    """The log records of one trace: each declared message exactly ``count`` times, its level,
    its attributes, in the declared span (span id) of this trace."""
    where = f"trace {sent.trace_id} ({spec.step})"
    matched = match_spans(spec, [s for s in spans if s.trace_id == sent.trace_id])
    problems = []
    mine = [log for log in logs if log.trace_id == sent.trace_id]
    for want in spec.logs:
        found = [log for log in mine if log.service == want.service and log.body == want.message]
        if len(found) != want.count:
            problems.append(
                f"{where}: {len(found)} log record(s) {want.service}/{want.message!r}, "
                f"expected {want.count}"
            )
        span_ids = {s.span_id for s in matched.get(want.span, [])}
        for log in found:
            if log.severity_text.upper() != want.level:
                problems.append(
                    f"{where}: {want.message!r} at {log.severity_text}, not {want.level}"
                )
            if log.span_id not in span_ids:
                problems.append(f"{where}: {want.message!r} not logged in span {want.span!r}")
            problems += _attribute_problems(
                f"{where} log {want.message!r}", want.attributes, log.attributes
            )
    return problems


def resource_problems(
    records: Iterable[SpanRecord | LogRecord], *, run_id: str | None = None
) -> list[str]:
    problems = set()
    for record in records:
        for key in RESOURCE_KEYS:
            if not record.resource.get(key):
                problems.add(f"{record.service}: resource attribute {key!r} missing")
        if record.resource.get("service.name") != record.service:
            problems.add(f"{record.service}: service.name {record.resource.get('service.name')!r}")
        if run_id is not None and record.resource.get("test.run_id") != run_id:
            problems.add(f"{record.service}: test.run_id {record.resource.get('test.run_id')!r}")
    return sorted(problems)


def counter_problems(
    before: Mapping[str, float],
    after: Mapping[str, float],
    n: int,
    series: Iterable[Series] = COUNTERS,
) -> list[str]:
    """Each series grew by exactly ``per_flow * n`` (a missing series counts as 0)."""
    problems = []
    for s in series:
        key = s.selector()
        delta = after.get(key, 0.0) - before.get(key, 0.0)
        if delta != s.per_flow * n:
            problems.append(f"{key}: grew by {delta:g}, expected {s.per_flow * n}")
    return problems


def exemplar_problems(
    exemplar_trace_ids: Iterable[str], run_trace_ids: Iterable[str], what: str
) -> list[str]:
    found = set(exemplar_trace_ids)
    mine = set(run_trace_ids)
    if not found:
        return [f"{what}: no exemplar at all"]
    if not found & mine:
        return [
            f"{what}: no exemplar carries one of this run's trace ids (got {sorted(found)[:5]})"
        ]
    return []


def sensitive_problems(where: str, text: str, values: Iterable[str]) -> list[str]:
    problems = [f"{where}: contains {value!r}" for value in values if value and value in text]
    problems += [f"{where}: contains a token {m[:8]}..." for m in TOKEN_PATTERN.findall(text)]
    return problems


def dump(records: Iterable[Any]) -> str:
    """Everything in the records as one text, for the sensitive-value search."""
    return "\n".join(json.dumps(r.__dict__, default=str, ensure_ascii=False) for r in records)


def trace_ids(runs: Iterable[FlowRun], step: str) -> list[str]:
    return [run.traces[step].trace_id for run in runs]


def all_problems(
    runs: Sequence[FlowRun],
    spans: Sequence[SpanRecord],
    logs: Sequence[LogRecord],
    *,
    traces: Mapping[str, TraceSpec] = TRACES,
) -> list[str]:
    """Every trace and its logs, for every flow of the run."""
    by_trace: dict[str, list[SpanRecord]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    problems = []
    for run in runs:
        for step, sent in run.traces.items():
            mine = by_trace.get(sent.trace_id, [])
            problems += trace_problems(traces[step], sent, mine)
            problems += log_problems(traces[step], sent, logs, mine)
    return problems


def with_count(spec: TraceSpec, key: str, count: int) -> TraceSpec:
    """A copy with one span's expected count changed (negative tests)."""
    return replace(
        spec, spans=tuple(replace(s, count=count) if s.key == key else s for s in spec.spans)
    )


def with_parent(spec: TraceSpec, key: str, parent: str | None) -> TraceSpec:
    return replace(
        spec, spans=tuple(replace(s, parent=parent) if s.key == key else s for s in spec.spans)
    )


def wait_for(
    check: Callable[[], list[str]], *, timeout: float, interval: float = 0.25
) -> list[str]:
    """Call ``check`` until it reports no problem or ``timeout`` seconds pass; return its last
    problems (empty = arrived). Polls, never sleeps a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        problems = check()
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(interval)


# Recording rules that only have series after an event a healthy run does not produce; the rules
# and panels that read them fall back (`or ... * 0`, `or vector(0)`) and must return data.
UNAVAILABLE_RULES: Final = {
    "app_route:http_request_errors:rate5m": 'only 5xx responses create the status_code=~"5.." '
    "series, and the flows get none",
    "app:http_request_errors:rate5m": "sums app_route:http_request_errors:rate5m (5xx only)",
}

_NAME_REGEX = re.compile(r'__name__\s*=~\s*"([^"]*)"')


def unavailable_reason(
    expr: str, recorded: Mapping[str, Sequence[str]], *, record: str | None = None
) -> str | None:
    """Why target 1 cannot answer ``expr`` (None: it must return data). ``recorded`` maps each
    recording rule name to its expressions; a query reading a rule inherits the rule's sources.
    ``record``: the name of the recording rule whose expression ``expr`` is."""
    from tests.support.dashboards import data_sources, recording_rule_names_used

    if record in UNAVAILABLE_RULES:
        return UNAVAILABLE_RULES[record]
    seen: set[str] = set()
    pending = [expr]
    sources: set[str] = set()
    while pending:
        current = pending.pop()
        sources |= data_sources(current)
        names = recording_rule_names_used(current)
        for pattern in _NAME_REGEX.findall(current):  # {__name__=~"rule_a|rule_b"}
            names |= {name for name in recorded if re.fullmatch(pattern, name)}
        for name in names - seen:
            seen.add(name)
            pending.extend(recorded.get(name, ()))
    reasons = [UNAVAILABLE_SOURCES[s] for s in sorted(sources) if s in UNAVAILABLE_SOURCES]
    reasons += [why for metric, why in UNAVAILABLE_METRICS.items() if metric in expr]
    return "; ".join(reasons) or None


_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(?!~)(\s*)(?!bool\b)")


def as_bool(expr: str) -> str:
    """An alert expression with every comparison turned into ``bool``: it returns a sample per
    series whatever the thresholds, so a run proves the expression reads real series."""
    out, depth, quoted = [], 0, False
    i = 0
    while i < len(expr):
        char = expr[i]
        if char == '"' and (i == 0 or expr[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "{":
            depth += 1
        elif not quoted and char == "}":
            depth -= 1
        elif not quoted and depth == 0:
            match = _COMPARISON.match(expr, i)
            if match and not expr[i:].startswith(("=~", "!~")):
                out.append(f"{match.group(1)} bool ")
                i = match.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


# --- arrival times ----------------------------------------------------------------------------
# How long after its response a request's telemetry can be found, per signal. Both tiers use the
# same machinery: target 1 polls the OTLP receiver (app -> collector), the live tier polls Tempo,
# Loki and Prometheus (request -> queryable). Figures are printed; the tests hold them only to a
# generous bound, never to the 2 s target of docs/stack.md.


def missing_spans(spec: TraceSpec, sent: SentTrace, spans: Sequence[SpanRecord]) -> list[str]:
    """The declared spans of one trace that are not there yet: each `SpanSpec` at least
    ``count`` times (once when the count is free). Arrival only; `trace_problems` checks the
    rest."""
    matched = match_spans(spec, [s for s in spans if s.trace_id == sent.trace_id])
    missing = []
    for want in spec.spans:
        need = 1 if want.count is None else want.count
        if len(matched.get(want.key, [])) < need:
            missing.append(f"{sent.trace_id}: {want.service}/{want.kind}/{want.name!r}")
    return missing


def missing_logs(spec: TraceSpec, sent: SentTrace, logs: Sequence[LogRecord]) -> list[str]:
    """The declared log records of one trace that are not there yet: each `LogSpec` at least
    ``count`` times with the trace's id. Arrival only; `log_problems` checks the rest."""
    mine = [log for log in logs if log.trace_id == sent.trace_id]
    return [
        f"{sent.trace_id}: {want.service}/{want.message!r}"
        for want in spec.logs
        if sum(log.service == want.service and log.body == want.message for log in mine)
        < want.count
    ]


def time_to_arrival(
    since: float,
    arrived: Callable[[], bool],
    *,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Seconds from ``since`` (a ``clock`` reading) to the end of the first call of
    ``arrived`` that returns True; None when it still says False ``timeout`` seconds after
    ``since``. Asks at least once, then every ``interval`` seconds: the resolution is the
    interval plus one query."""
    deadline = since + timeout
    while True:
        if arrived():
            return clock() - since
        if clock() >= deadline:
            return None
        sleep(interval)


@dataclass(frozen=True)
class Probe:
    """How one signal's arrival is seen: ``arrived(answered)`` is True once the backend holds
    all of that request's telemetry of the signal. Polled every ``interval`` s for at most
    ``timeout`` s after the response; ``bound`` is the generous limit the test holds it to
    (``timeout`` longer than ``bound``, so that a slow arrival is still measured)."""

    arrived: Callable[[Answered], bool]
    interval: float
    bound: float
    timeout: float


Arrivals = dict[str, list[tuple[Answered, float | None]]]


def measure_arrival(
    client: httpx.Client,
    n: int,
    probes: Mapping[str, Probe],
    *,
    pause: Callable[[], float] | None = None,
) -> Arrivals:
    """Drive ``n`` flows (`drive_flows`, ``pause()`` seconds after each request) and, from the
    moment each response is back, poll every probe for that request in a thread of its own (one
    thread per request and probe, so no poll waits for another). Per probe: every request with
    the seconds its telemetry took to arrive (None: not within the probe's timeout)."""
    started: list[tuple[str, Answered, Future[float | None]]] = []
    with ThreadPoolExecutor(max_workers=max(1, n * len(FLOW) * len(probes))) as pool:

        def start(answered: Answered) -> None:
            for name, probe in probes.items():
                future = pool.submit(
                    time_to_arrival,
                    answered.monotonic,
                    partial(probe.arrived, answered),
                    timeout=probe.timeout,
                    interval=probe.interval,
                )
                started.append((name, answered, future))

        drive_flows(client, n, pause=pause, answered=start)
        results: Arrivals = {name: [] for name in probes}
        for name, answered, future in started:
            results[name].append((answered, future.result()))
    return results


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of the values at or
    below it (``q`` in (0, 100]; p100 is the maximum)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} outside (0, 100]")
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


@dataclass(frozen=True)
class Latency:
    n: int
    p50: float
    p95: float
    max: float

    def describe(self) -> str:
        return f"n={self.n} p50={self.p50:.2f} s p95={self.p95:.2f} s max={self.max:.2f} s"


def latency_summary(values: Sequence[float]) -> Latency:
    return Latency(len(values), percentile(values, 50), percentile(values, 95), max(values))


def arrival_report(results: Arrivals, labels: Mapping[str, str] | None = None) -> list[str]:
    """One line per probe: p50/p95/max of the requests that arrived, and how many did not."""
    labels = labels or {}
    width = max((len(labels.get(name, name)) for name in results), default=0)
    lines = []
    for name, measured in results.items():
        seconds = [s for _, s in measured if s is not None]
        lost = len(measured) - len(seconds)
        text = latency_summary(seconds).describe() if seconds else "nothing arrived"
        if lost:
            text += f", {lost} of {len(measured)} not within the timeout"
        lines.append(f"{labels.get(name, name):<{width}}  {text}")
    return lines


def arrival_problems(results: Arrivals, probes: Mapping[str, Probe]) -> list[str]:
    """Every request whose telemetry did not arrive, or arrived later than its probe's
    bound."""
    problems = []
    for name, measured in results.items():
        bound = probes[name].bound
        for answered, seconds in measured:
            where = f"{name}: {answered.step} {answered.trace.trace_id}"
            if seconds is None:
                problems.append(f"{where} not there {probes[name].timeout:g} s after the response")
            elif seconds > bound:
                problems.append(f"{where} took {seconds:.1f} s (bound {bound:g} s)")
    return problems


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_seconds(text: str) -> float:
    """A Go / Prometheus duration (``200ms``, ``15s``, ``1m30s``) in seconds."""
    parts = _GO_DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)

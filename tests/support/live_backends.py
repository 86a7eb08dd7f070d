"""Clients for the compose stack's backends, turning their answers into the records of
tests/support/expectations.py. Each call is written against the documented API of the pinned
version (.env); the source each shape was checked against is named in the docstring.

- Prometheus v3.14: ``GET /api/v1/query``, ``GET /api/v1/query_exemplars`` (``query``, ``start``,
  ``end``; ``data[].exemplars[].labels``).
- Tempo 3.0: ``GET /api/v2/traces/<id>`` with ``Accept: application/protobuf`` returns a
  ``tempopb.TraceByIDResponse`` (field 1 ``trace``: ``tempopb.Trace``, wire-identical to OTLP
  ``TracesData``; grafana/tempo modules/frontend/combiner/trace_by_id_v2.go and
  docs/sources/tempo/api_docs). Search: ``GET /api/search?q=<TraceQL>&start=&end=`` (seconds),
  ``traces[].traceID`` (hex, leading zeros trimmed by Tempo's ``util.TraceIDToHexString``).
- Loki 3.7: ``GET /loki/api/v1/query_range`` (``query``, ``start``/``end`` in ns, ``limit``),
  with ``X-Loki-Response-Encoding-Flags: categorize-labels`` each entry is
  ``[ts, line, {"structuredMetadata": {...}}]`` (grafana/loki pkg/util/httpreq); OTLP mapping:
  body -> line, trace_id/span_id/severity_text and log attributes -> structured metadata with dots
  as underscores (docs/sources/send-data/otel).
- Grafana 13.2.1: every call is listed on the ``Grafana`` class with its route and handler in
  grafana/grafana ``pkg/api`` (read in the newest copy the search index holds, which has the
  13.x routes; it has no copy tagged v13.2.1). The Tempo datasource's backend (pkg/tsdb/tempo)
  answers trace-by-id and TraceQL *metrics* queries; its "Save & test" and its searches run in
  the browser through the datasource proxy (``.../api/echo``, ``.../api/search``), and the tests
  do the same.
  The Alertmanager datasource has no backend at all: its "Save & test" GETs ``/api/v2/status``
  through the proxy (public/app/plugins/datasource/alertmanager/DataSource.ts, Prometheus
  implementation); Grafana's Alerting pages read ``/api/alertmanager/<uid>/api/v2/alerts``
  (pkg/services/ngalert/api; readable by Viewers: fixed role alerting.instances:reader,
  ``alert.instances.external:read``). Shapes in tests/support/alertmanager.py.
"""

from __future__ import annotations

import copy
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from tests.support import dashboards
from tests.support.expectations import LogRecord, SpanRecord
from tests.support.otlp_receiver import span_records

ROOT = Path(__file__).resolve().parents[2]
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yaml"

DEFAULTS = {
    "LIVE_API_URL": "http://127.0.0.1:8000",
    "LIVE_TAGGER_URL": "http://127.0.0.1:8001",
    "LIVE_PROMETHEUS_URL": "http://127.0.0.1:9090",
    "LIVE_LOKI_URL": "http://127.0.0.1:3100",
    "LIVE_TEMPO_URL": "http://127.0.0.1:3200",
    "LIVE_GRAFANA_URL": "http://127.0.0.1:3000",
    "LIVE_ALERTMANAGER_URL": "http://127.0.0.1:9093",
    "LIVE_ALERT_RECEIVER_URL": "http://127.0.0.1:8003",
}


def url(name: str) -> str:
    return os.environ.get(name, DEFAULTS[name]).rstrip("/")


# --- Tempo ------------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def trace_by_id_response_trace(body: bytes) -> bytes:
    """The bytes of field 1 (``trace``) of a ``tempopb.TraceByIDResponse``; other fields
    (metrics, status, message) are skipped. Empty when the message has no trace."""
    pos, found = 0, b""
    while pos < len(body):
        key, pos = _varint(body, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(body, pos)
        elif wire == 2:
            length, pos = _varint(body, pos)
            if field == 1:
                found = body[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return found


def spans_from_traces_data(data: TracesData) -> list[SpanRecord]:
    return span_records(data.resource_spans)


def same_trace_id(a: str, b: str) -> bool:
    """Tempo trims leading zeros from hex trace ids in JSON answers."""
    return a.lower().lstrip("0") == b.lower().lstrip("0")


@dataclass
class Tempo:
    base: str

    def trace(self, trace_id: str) -> list[SpanRecord]:
        """The trace's spans, [] while Tempo does not have it (404)."""
        response = httpx.get(
            f"{self.base}/api/v2/traces/{trace_id}",
            headers={"Accept": "application/protobuf"},
            timeout=30.0,
        )
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return spans_from_traces_data(
            TracesData.FromString(trace_by_id_response_trace(response.content))
        )

    def search(self, traceql: str, start: float, end: float, limit: int = 100) -> list[str]:
        response = httpx.get(
            f"{self.base}/api/search",
            params={"q": traceql, "start": int(start), "end": int(end) + 1, "limit": limit},
            timeout=30.0,
        )
        response.raise_for_status()
        return [t["traceID"] for t in response.json().get("traces") or []]


# --- Loki -------------------------------------------------------------------------------------


def records_from_streams(result: list[dict[str, Any]]) -> list[LogRecord]:
    """Loki ``streams`` (either encoding: categorized, or metadata folded into the stream)."""
    out = []
    for stream in result:
        labels = dict(stream.get("stream") or {})
        for value in stream.get("values") or []:
            meta = dict(labels)
            if len(value) > 2 and isinstance(value[2], dict):
                meta |= value[2].get("structuredMetadata") or {}
                meta |= value[2].get("parsed") or {}
            out.append(
                LogRecord(
                    trace_id=str(meta.get("trace_id", "")),
                    span_id=str(meta.get("span_id", "")),
                    severity_text=str(meta.get("severity_text", "")),
                    body=str(value[1]),
                    service=str(meta.get("service_name", "")),
                    attributes=meta,
                )
            )
    return out


@dataclass
class Loki:
    base: str

    def query_range(
        self, logql: str, start: float, end: float, limit: int = 1000
    ) -> list[LogRecord]:
        response = httpx.get(
            f"{self.base}/loki/api/v1/query_range",
            params={
                "query": logql,
                "start": int(start * 1e9),
                "end": int(end * 1e9),
                "limit": limit,
                "direction": "forward",
            },
            headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
            timeout=30.0,
        )
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "streams", body["data"]["resultType"]
        return records_from_streams(body["data"]["result"])


# --- Prometheus -------------------------------------------------------------------------------


@dataclass
class PrometheusApi:
    base: str

    def _get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", params=params, timeout=30.0)
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query", query=promql)
        return data["result"] if data["resultType"] != "scalar" else [{"value": data["result"]}]

    def value(self, promql: str) -> float:
        result = self.query(promql)
        return sum(float(r["value"][1]) for r in result)

    def exemplars(self, promql: str, start: float, end: float) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_exemplars", query=promql, start=start, end=end)
        return [e for series in data for e in series.get("exemplars") or []]


# --- Grafana ----------------------------------------------------------------------------------


@dataclass
class Grafana:
    """Grafana's HTTP API as the live tier uses it. Routes: grafana/grafana pkg/api/api.go
    (``registerRoutes``); every ``/api`` route but ``/api/health`` sits in a group behind
    ``reqSignedIn``. ``password=None`` is the anonymous Viewer the stack gives everyone
    (``GF_AUTH_ANONYMOUS_ENABLED``, ``GF_AUTH_ANONYMOUS_ORG_ROLE: Viewer``); otherwise HTTP basic
    auth as ``admin`` (``[auth.basic]`` is on by default). The calls need ``datasources:query``
    or ``dashboards:read``, nothing an admin alone holds; the tests run them as admin so that a
    broken anonymous setup fails its own test (test_live_stack.py, anonymous Viewer) instead of
    every Grafana test."""

    base: str
    password: str | None
    user: str = "admin"

    def anonymous(self) -> Grafana:
        return Grafana(self.base, None)

    def _client(self) -> httpx.Client:
        auth = (self.user, self.password) if self.password is not None else None
        return httpx.Client(base_url=self.base, auth=auth, timeout=60.0)

    def get(self, path: str, **params: Any) -> httpx.Response:
        """Any ``GET``. The ones the tests make:

        - ``/api/health``: pkg/api/http_server.go ``apiHealthHandler``, a middleware that answers
          before authentication: 200 ``{"database": "ok", ...}``, 503 with ``"failing"``.
        - ``/api/datasources/uid/<uid>/health``: ``apiRoute.Any(...)``, ``datasources:query``;
          pkg/api/datasources.go ``CheckDatasourceHealthWithUID``: 200 ``{"status": "OK",
          "message": ...}``, 400 with the plugin's other status and its message.
        - ``/api/search?type=dash-db&limit=N``: ``apiRoute.Get("/search/", hs.Search)``;
          pkg/api/search.go: a list of hits with ``uid``, ``type``; 422 above ``limit`` 5000.
        - ``/api/dashboards/uid/<uid>``: ``dashboards:read`` on that uid; pkg/api/dashboard.go
          ``GetDashboard``: ``{"dashboard": {...}, "meta": {...}}``.
        """
        with self._client() as client:
            return client.get(path, params=params)

    def post(self, path: str, body: Any) -> httpx.Response:
        with self._client() as client:
            return client.post(path, json=body)

    def ds_query(self, query: dict[str, Any], *, since: str = "now-15m") -> dict[str, Any]:
        """The result of one panel query: ``POST /api/ds/query`` (``datasources:query``;
        pkg/api/ds_query.go ``QueryMetricsV2``, body ``dtos.MetricRequest`` ``{"queries",
        "from", "to"}`` with relative times allowed). The answer is ``{"results": {<refId>:
        {"frames": [...], "error"?: ...}}}``: 200, or 400 when any query failed
        (``toJsonStreamingResponse``); older releases answered 207 under the
        ``datasourceQueryMultiStatus`` feature, still accepted here. A failed query comes back
        with its ``error``, so that a caller polling for data can try again; 403/404/500
        (access, unknown datasource, ``handleQueryMetricsError``) fail the test."""
        response = self.post("/api/ds/query", {"queries": [query], "from": since, "to": "now"})
        answer = (response.status_code, response.text[:500], query)
        assert response.status_code in (200, 207, 400), answer
        results = response.json().get("results")
        assert isinstance(results, dict), answer
        assert query["refId"] in results, answer
        result: dict[str, Any] = results[query["refId"]]
        return result

    def anonymous_get(self, path: str, params: Any = None) -> httpx.Response:
        """``GET`` without credentials: what an anonymous Viewer (the stack's default) gets."""
        return httpx.get(f"{self.base}{path}", params=params, timeout=60.0)

    def proxy_get(self, uid: str, path: str, **params: Any) -> httpx.Response:
        """``GET`` through the datasource proxy, as a browser-side datasource does:
        ``apiRoute.Any("/datasources/proxy/uid/:uid/*", ...)``, ``datasources:query``,
        ``ProxyDataSourceRequestWithUID`` (pkg/api/dataproxy.go); the answer is the backend's."""
        return self.get(f"/api/datasources/proxy/uid/{uid}{path}", **params)

    def tempo_search(self, query: dict[str, Any], *, since_seconds: float = 900) -> list[str]:
        """Trace ids a TraceQL search panel finds: the search the Tempo datasource runs from the
        browser, through the datasource proxy to Tempo's ``/api/search`` (``q``, ``start``,
        ``end`` in seconds, ``limit``, ``spss``; answer ``traces[].traceID``)."""
        end = time.time()
        response = self.proxy_get(
            str(query["datasource"]["uid"]),
            "/api/search",
            q=query["query"],
            start=int(end - since_seconds),
            end=int(end) + 1,
            limit=int(query.get("limit") or 20),
            spss=int(query.get("spss") or 3),
        )
        assert response.status_code == 200, (response.status_code, response.text[:500], query)
        return [str(t["traceID"]) for t in response.json().get("traces") or []]


def frames_have_data(result: dict[str, Any]) -> bool:
    """True when any frame of a ``/api/ds/query`` result holds at least one row."""
    for frame in result.get("frames") or []:
        values = (frame.get("data") or {}).get("values") or []
        if any(len(column) > 0 for column in values):
            return True
    return False


def poll(check: Any, *, timeout: float, interval: float = 2.0) -> Any:
    """``check()`` until it returns something truthy or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- what Grafana would send ---------------------------------------------------------------


def traces_to_logs_query(trace_id: str, service: str) -> str:
    """The datasource's tracesToLogsV2 custom query, rendered as Grafana renders it: ``$$`` is
    the provisioning escape of ``$``, ``${__tags}`` the mapped span tags, ``${__trace.traceId}``
    the trace id."""
    doc = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    (tempo_ds,) = [d for d in doc["datasources"] if d["uid"] == "tempo"]
    config = tempo_ds["jsonData"]["tracesToLogsV2"]
    assert config["customQuery"] is True
    tags = ", ".join(
        f'{t["value"]}="{service}"' for t in config["tags"] if t["key"] == "service.name"
    )
    query = str(config["query"]).replace("$$", "$")
    return query.replace("${__tags}", tags).replace("${__trace.traceId}", trace_id)


# Panel queries that Grafana's Tempo datasource computes in the browser: its backend answers only
# `traceql` and `traceId` queries (grafana/grafana pkg/tsdb/tempo, "unsupported query type"); the
# service map is built by the frontend from Prometheus series (`serviceMapQuery`), which
# test_service_graph_and_span_metrics_exist checks directly.
FRONTEND_ONLY = {"serviceMap": "built in the browser from traces_service_graph_* in Prometheus"}
_HEX_ID = re.compile(r"^[0-9a-fA-F]{16,32}$")
# Grafana's test for a TraceQL metrics query (pkg/tsdb/tempo traceql_query.go, isMetricsQuery):
# those go through /api/ds/query; any other TraceQL is a search, run through the proxy.
_TRACEQL_METRICS = re.compile(
    r"\|\s*(rate|count_over_time|avg_over_time|max_over_time|min_over_time"
    r"|quantile_over_time|histogram_over_time|compare)\s*\("
)


def is_tempo_search(query: dict[str, Any]) -> bool:
    """A panel query that Grafana's Tempo datasource runs as a search from the browser."""
    return (
        (query.get("datasource") or {}).get("type") == "tempo"
        and query.get("queryType") == "traceql"
        and not _TRACEQL_METRICS.search(str(query.get("query", "")))
    )


def _substitute(text: str, board: dict[str, Any], overrides: dict[str, str]) -> str:
    values = {n: dashboards.representative_value(v) for n, v in dashboards.variables(board).items()}
    values |= dashboards.BUILTIN_VALUES | overrides

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return values.get(name, match.group(0))

    return dashboards._VAR_REF.sub(replace, text)


def panel_queries(trace_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every panel target of every dashboard, as the panel's datasource would send it: variables
    substituted (text boxes: the search box empty, the trace id one of this run's traces), the
    datasource resolved to its provisioned uid, and a bare trace id in a TraceQL target sent as a
    `traceId` query (what the Tempo datasource frontend does, `isTraceIdQuery`)."""
    overrides = {"search": "", "trace_id": trace_id}
    out = []
    for path in dashboards.dashboard_files():
        board = dashboards.load(path)
        for panel, target in dashboards.iter_targets(board):
            if target.get("queryType") in FRONTEND_ONLY:
                continue
            query = copy.deepcopy(target)
            ds = copy.deepcopy(target.get("datasource") or panel.get("datasource") or {})
            query["datasource"] = {
                "uid": _substitute(str(ds.get("uid", "")), board, overrides),
                "type": ds.get("type"),
            }
            for key in ("expr", "query"):
                if isinstance(query.get(key), str):
                    query[key] = _substitute(query[key], board, overrides)
            if ds.get("type") == "tempo" and _HEX_ID.match(str(query.get("query", ""))):
                query["queryType"] = "traceId"
            query["refId"] = query.get("refId") or "A"
            out.append((f"{path.name} {panel.get('title')!r} {query['refId']}", query))
    return out


# --- what Prometheus scrapes (prometheus/prometheus.yml) -------------------------------------

PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"


def _scrape_job(job: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    config = config or yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    (found,) = [c for c in config["scrape_configs"] if c["job_name"] == job]
    return dict(found)


# The app's file_sd files (compose.observability.app.yaml mounts them at these paths).
TARGET_FILES = {
    f"/etc/prometheus/{job}.targets.yml": ROOT / "prometheus" / "targets" / f"{job}.yml"
    for job in ("api", "tagger")
}


def scrape_target(job: str, host: str, config: dict[str, Any] | None = None) -> str:
    """The ``instance`` label of the target of ``job`` on ``host``, static or in one of the
    app's file_sd files (Prometheus sets ``instance`` to the target's address unless relabelled;
    the stack does not relabel)."""
    found = _scrape_job(job, config)
    assert not found.get("relabel_configs"), f"job {job} relabels; instance is not the address"
    groups = list(found.get("static_configs") or [])
    for sd in found.get("file_sd_configs") or []:
        for path in sd["files"]:
            groups += yaml.safe_load(TARGET_FILES[path].read_text(encoding="utf-8")) or []
    (target,) = [
        t for group in groups for t in group.get("targets") or [] if t.rsplit(":", 1)[0] == host
    ]
    return str(target)


def scrape_interval(job: str, config: dict[str, Any] | None = None) -> str:
    """The job's scrape interval as written (its own, else the global one, else Prometheus's
    default ``1m``)."""
    config = config or yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    found = _scrape_job(job, config)
    return str(
        found.get("scrape_interval") or (config.get("global") or {}).get("scrape_interval") or "1m"
    )

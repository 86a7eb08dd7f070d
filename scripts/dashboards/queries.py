"""The datasource references and the query builders: PromQL, LogQL and TraceQL."""

from __future__ import annotations

from grafana_foundation_sdk.builders import loki as loki_q
from grafana_foundation_sdk.builders import prometheus as prom_q
from grafana_foundation_sdk.builders import tempo as tempo_q
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import loki as lm
from grafana_foundation_sdk.models import prometheus as pm
from grafana_foundation_sdk.models import tempo as tm

# Panels never name a datasource uid: each dashboard has a datasource variable per datasource
# type, defaulting to the uids provisioned in grafana/provisioning/datasources/.
PROM = cm.DataSourceRef(type_val="prometheus", uid="${prometheus}")
LOKI = cm.DataSourceRef(type_val="loki", uid="${loki}")
TEMPO = cm.DataSourceRef(type_val="tempo", uid="${tempo}")

Query = prom_q.Dataquery | loki_q.Dataquery | tempo_q.TempoQuery


def prom(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    table: bool = False,
    exemplar: bool = False,
    heatmap: bool = False,
) -> Query:
    query = (
        prom_q.Dataquery()
        .datasource(PROM)
        .editor_mode(pm.QueryEditorMode.CODE)
        .expr(expr)
        .legend_format(legend or "__auto")
        .exemplar(exemplar)
    )
    query = query.instant() if instant else query.range()
    if table:
        query = query.format(pm.PromQueryFormat.TABLE)
    elif heatmap:
        query = query.format(pm.PromQueryFormat.HEATMAP)
    return query


def rate_sum(series: str, *by: str) -> str:
    """The per-second rate of a counter's series, summed (by the labels `by`, if any)."""
    if by:
        return f"sum by ({', '.join(by)}) (rate({series}[$__rate_interval]))"
    return f"sum(rate({series}[$__rate_interval]))"


def share(part: str, whole: str) -> str:
    """part / whole, 0 rather than no value while the part has no series (nothing failed yet)."""
    return f"({part} or {whole} * 0) / {whole}"


def zero_if_none(expr: str, label: str) -> str:
    """A zero series when the counter has no series yet (nothing failed so far)."""
    return f'{expr} or label_replace(vector(0), "{label}", "none", "", "")'


def loki(
    expr: str, legend: str = "", *, instant: bool = False, max_lines: int | None = None
) -> Query:
    query = (
        loki_q.Dataquery()
        .datasource(LOKI)
        .editor_mode(lm.QueryEditorMode.CODE)
        .expr(expr)
        .query_type(lm.LokiQueryType.INSTANT if instant else lm.LokiQueryType.RANGE)
        .legend_format(legend)
    )
    return query.max_lines(max_lines) if max_lines is not None else query


def _tempo(query_type: tm.TempoQueryType) -> tempo_q.TempoQuery:
    return tempo_q.TempoQuery().datasource(TEMPO).query_type(query_type)


def traceql(query: str, *, limit: int = 20) -> Query:
    """A TraceQL search, listed as a table of traces."""
    return (
        _tempo(tm.TempoQueryType.TRACEQL)
        .query(query)
        .limit(limit)
        .spss(3)
        .table_type(tm.SearchTableType.TRACES)
        .filters([])
    )


def trace_by_id(trace_id: str) -> Query:
    """One trace, by its id (a TraceQL query of the id alone)."""
    return _tempo(tm.TempoQueryType.TRACEQL).query(trace_id).limit(1).filters([])


def service_map() -> Query:
    """Tempo's service graph, from the metrics generator's service-graph series."""
    return _tempo(tm.TempoQueryType.SERVICE_MAP).service_map_query("").filters([])

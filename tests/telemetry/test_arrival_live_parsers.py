"""The live tier's decoders, proven here on real data: what the OTLP receiver got from the real
services is re-encoded the way Tempo and Loki answer (tests/support/live_backends.py names the
upstream source of each shape) and must decode back into records that pass the same checks.
So a live failure is about the stack, not about the test's parsing."""

from __future__ import annotations

import re

from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from tests.support.expectations import (
    API,
    TRACES,
    drive_flows,
    log_problems,
    trace_problems,
    wait_for,
)
from tests.support.live_backends import (
    is_tempo_search,
    panel_queries,
    records_from_streams,
    same_trace_id,
    spans_from_traces_data,
    trace_by_id_response_trace,
    traces_to_logs_query,
)
from tests.support.wire import WireStack


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def trace_by_id_response(traces: TracesData) -> bytes:
    """tempopb.TraceByIDResponse{trace=1, metrics=2, status=3, message=4} on the wire."""
    trace = traces.SerializeToString()
    metrics = b"\x08" + _varint(1234)  # TraceByIDMetrics{inspectedBytes=1234}
    message = b"complete"
    return (
        b"\x0a" + _varint(len(trace)) + trace
        + b"\x12" + _varint(len(metrics)) + metrics
        + b"\x18\x00"
        + b"\x22" + _varint(len(message)) + message
    )  # fmt: skip


def test_tempo_trace_by_id_protobuf_decodes_into_the_declared_trace(
    wire_stack: WireStack,
) -> None:
    with wire_stack.api.client() as client:
        (run,) = drive_flows(client, 1)
    sent = run.traces["upload"]

    def arrived() -> list[str]:
        spans = [s for s in wire_stack.receiver.spans() if s.trace_id == sent.trace_id]
        return trace_problems(TRACES["upload"], sent, spans)

    assert not wait_for(arrived, timeout=20)
    data = TracesData(
        resource_spans=[
            rs
            for rs in wire_stack.receiver.resource_spans
            if any(s.trace_id.hex() == sent.trace_id for ss in rs.scope_spans for s in ss.spans)
        ]
    )
    body = trace_by_id_response(data)
    decoded = spans_from_traces_data(TracesData.FromString(trace_by_id_response_trace(body)))
    mine = [s for s in decoded if s.trace_id == sent.trace_id]
    assert not trace_problems(TRACES["upload"], sent, mine)
    assert trace_by_id_response_trace(b"") == b""  # a 200 without a trace decodes to nothing


def loki_streams(wire_stack: WireStack, trace_id: str, *, categorized: bool) -> list[dict]:
    """The receiver's log records of one trace as Loki's query_range answers them after its OTLP
    mapping: body -> line, service.name -> the service_name label, trace_id, span_id,
    severity_text and attributes (dots as underscores) -> structured metadata."""
    streams = []
    for record in wire_stack.receiver.logs():
        if record.trace_id != trace_id:
            continue
        labels = {"service_name": record.service}
        metadata = {
            "trace_id": record.trace_id,
            "span_id": record.span_id,
            "severity_text": record.severity_text,
            **{k.replace(".", "_"): str(v) for k, v in record.attributes.items()},
        }
        if categorized:
            value = ["1", record.body, {"structuredMetadata": metadata}]
            streams.append({"stream": labels, "values": [value]})
        else:
            streams.append({"stream": labels | metadata, "values": [["1", record.body]]})
    return streams


def test_loki_streams_decode_into_the_declared_log_lines(wire_stack: WireStack) -> None:
    with wire_stack.api.client() as client:
        (run,) = drive_flows(client, 1)
    sent = run.traces["upload"]
    spans = wire_stack.receiver.spans

    def arrived() -> list[str]:
        return log_problems(TRACES["upload"], sent, wire_stack.receiver.logs(), spans())

    assert not wait_for(arrived, timeout=20)
    for categorized in (True, False):
        records = records_from_streams(
            loki_streams(wire_stack, sent.trace_id, categorized=categorized)
        )
        # Loki stringifies attribute values; the declaration's values are strings already
        assert not log_problems(TRACES["upload"], sent, records, spans()), categorized


def test_the_traces_to_logs_query_is_rendered_from_the_datasource_config() -> None:
    query = traces_to_logs_query("4bf92f3577b34da6a3ce929d0e0e4736", API)
    assert query == '{service_name="loan-api"} | trace_id="4bf92f3577b34da6a3ce929d0e0e4736"'


def test_every_grafana_panel_query_is_fully_substituted() -> None:
    queries = panel_queries("4bf92f3577b34da6a3ce929d0e0e4736")
    assert len(queries) >= 60
    for where, query in queries:
        text = " ".join(str(query.get(k, "")) for k in ("expr", "query"))
        assert not re.search(r"\$\{?\w", text), (where, text)
        assert not re.search(r"\$", query["datasource"]["uid"]), where
        assert query["datasource"]["uid"] in {"prometheus", "loki", "tempo"}, where
    kinds = {q["datasource"]["type"] for _, q in queries}
    assert kinds == {"prometheus", "loki", "tempo"}
    assert any(q.get("queryType") == "traceId" for _, q in queries)


def test_tempo_panels_split_into_trace_by_id_and_browser_side_searches() -> None:
    # Grafana's Tempo backend answers trace-by-id and TraceQL metrics queries only; searches are
    # run through the datasource proxy (tests/support/live_backends.py names the source).
    tempo = [
        (w, q)
        for w, q in panel_queries("4bf92f3577b34da6a3ce929d0e0e4736")
        if q["datasource"]["type"] == "tempo"
    ]
    searches = sorted(w.split("'")[1] for w, q in tempo if is_tempo_search(q))
    assert searches == ["Failed requests", "Slow requests"]
    by_id = [q for _, q in tempo if not is_tempo_search(q)]
    assert [q["queryType"] for q in by_id] == ["traceId"]
    assert by_id[0]["query"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    metrics = {"datasource": {"type": "tempo"}, "queryType": "traceql", "query": "{} | rate()"}
    assert not is_tempo_search(metrics)


def test_tempo_trace_ids_compare_without_leading_zeros() -> None:
    assert same_trace_id("00ab", "ab")
    assert not same_trace_id("ab", "abc")

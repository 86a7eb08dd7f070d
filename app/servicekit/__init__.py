"""Pieces both services share that are not telemetry: RFC 9457 problem details, health probes,
request-size limits."""

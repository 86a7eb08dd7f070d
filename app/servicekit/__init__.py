"""Pieces both services share that are not telemetry: RFC 9457 problem details and the OpenAPI
document of them, strict request fields, health probes, request-size limits."""

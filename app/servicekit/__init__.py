"""Pieces every service shares that are not telemetry: the application factory
(``factory.create_service_app``) and the settings every service has (``settings.ServiceSettings``),
RFC 9457 problem details and the OpenAPI document of them, strict request fields, health probes,
request-size limits, the command line and trainer mode."""

"""The ``OTEL_*`` variables this package and the SDK read, checked before anything starts.

A wrong value would otherwise surface late and loud (``OTEL_TRACES_EXPORTER=bogus``: a
``ValueError`` traceback at start-up; a ratio above 1: the SDK's ``ValueError``; a gRPC
compression it does not know: ``InvalidCompressionValueException``) or silently (an unknown
sampler becomes the default with one warning; ``OTEL_SDK_DISABLED=yes`` does not disable).
:func:`environment_problems` names each wrong variable once, so a command line can refuse to start
with one line per variable.

Accepted values come from the installed SDK where it publishes them (the sampler entry points of
opentelemetry-sdk, the HTTP exporter's ``Compression`` enum); the rest are this package's own
choices or SDK constants held to the source by tests/unit/package/test_environment.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Final, Literal, TypeAlias, get_args
from urllib.parse import urlsplit

from loan_desk_telemetry._redaction import redact_url

__all__ = [
    "EXPORTER_CHOICES",
    "OTLP_PROTOCOLS",
    "ExporterChoice",
    "environment_problems",
    "sampler_names",
]

#: ``OTEL_TRACES_EXPORTER`` / ``OTEL_LOGS_EXPORTER``: this package builds its exporters itself
#: (one per signal, no comma lists); "otlp" and "console" are the SDK's entry point names.
ExporterChoice: TypeAlias = Literal["otlp", "console", "none"]
EXPORTER_CHOICES: Final[tuple[ExporterChoice, ...]] = get_args(ExporterChoice)
#: ``OTEL_EXPORTER_OTLP_PROTOCOL``: the keys of opentelemetry-sdk 1.45.2
#: ``sdk/_configuration/__init__.py`` ``_EXPORTER_BY_OTLP_PROTOCOL`` (no http/json exporter).
OTLP_PROTOCOLS: Final = ("http/protobuf", "grpc")
#: ``OTEL_EXPORTER_OTLP_COMPRESSION``: the gRPC exporter knows only gzip (opentelemetry-exporter-
#: otlp-proto-grpc 1.45.2 ``exporter.py`` ``_ENVIRON_TO_COMPRESSION``; "none" raises there).
GRPC_COMPRESSIONS: Final = ("gzip",)

_SIGNALS: Final = ("TRACES", "LOGS")
_RATIO_SAMPLERS: Final = ("traceidratio", "parentbased_traceidratio")
# opentelemetry-sdk 1.45.2 environment_variables: the batch processors' integer settings
# (a bad value makes the SDK log an exception with its traceback and use the default).
_BATCH_INTEGERS: Final = {
    "OTEL_BSP_SCHEDULE_DELAY": 0,
    "OTEL_BSP_MAX_QUEUE_SIZE": 1,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 1,
    "OTEL_BSP_EXPORT_TIMEOUT": 0,
    "OTEL_BLRP_SCHEDULE_DELAY": 0,
    "OTEL_BLRP_MAX_QUEUE_SIZE": 1,
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": 1,
    "OTEL_BLRP_EXPORT_TIMEOUT": 0,
}


def sampler_names() -> tuple[str, ...]:
    """The samplers ``OTEL_TRACES_SAMPLER`` may name: the SDK's own (its entry points in
    ``opentelemetry_traces_sampler``), which is what ``TracerProvider`` reads the variable for."""
    names = {
        ep.name
        for ep in entry_points(group="opentelemetry_traces_sampler")
        if ep.value.startswith("opentelemetry.sdk.")
    }
    return tuple(sorted(names))


def _http_compressions() -> tuple[str, ...]:
    from opentelemetry.exporter.otlp.common.http import Compression

    return tuple(c.value for c in Compression)


def _one_of(value: str, choices: tuple[str, ...]) -> str:
    listed = choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"
    return f"use {listed} (got {value!r})"


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return None if value is None or not value.strip() else value.strip()


def _protocol(environ: Mapping[str, str], signal: str) -> str:
    return (
        _get(environ, f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or _get(environ, "OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )


def environment_problems(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(variable, what is wrong)`` for each ``OTEL_*`` variable with a value that would fail or
    be ignored; empty when all is well. With ``OTEL_SDK_DISABLED=true`` nothing else is read."""
    env = os.environ if environ is None else environ
    disabled = _get(env, "OTEL_SDK_DISABLED")
    if disabled is not None and disabled.lower() not in ("true", "false"):
        return [("OTEL_SDK_DISABLED", _one_of(disabled, ("true", "false"))), *_otel_problems(env)]
    if disabled is not None and disabled.lower() == "true":
        return []
    return _otel_problems(env)


def _otel_problems(env: Mapping[str, str]) -> list[tuple[str, str]]:
    return [
        *_each(
            env,
            [f"OTEL_{s}_EXPORTER" for s in _SIGNALS],
            lambda v: v.lower() in EXPORTER_CHOICES,
            lambda v: _one_of(v, EXPORTER_CHOICES),
        ),
        *_each(
            env,
            _per_signal("OTEL_EXPORTER_OTLP_{}PROTOCOL"),
            lambda v: v in OTLP_PROTOCOLS,
            lambda v: _one_of(v, OTLP_PROTOCOLS),
        ),
        *_each(
            env,
            _per_signal("OTEL_EXPORTER_OTLP_{}ENDPOINT"),
            _http_url,
            lambda v: f"not an http:// or https:// URL (got {redact_url(v)!r})",
        ),
        *_each(
            env,
            _per_signal("OTEL_EXPORTER_OTLP_{}TIMEOUT"),
            _positive_number,
            lambda v: f"not a number of seconds above 0 (got {v!r})",
        ),
        *_compression_problems(env),
        *_sampler_problems(env),
        *_batch_problems(env),
    ]


def _batch_problems(env: Mapping[str, str]) -> list[tuple[str, str]]:
    problems = []
    for name, minimum in _BATCH_INTEGERS.items():
        value = _get(env, name)
        if value is not None and not _integer_at_least(value, minimum):
            problems.append((name, f"not a whole number from {minimum} (got {value!r})"))
    return problems


def _per_signal(template: str) -> list[str]:
    """OTEL_EXPORTER_OTLP_X and its per-signal OTEL_EXPORTER_OTLP_TRACES_X, _LOGS_X."""
    return [template.format(""), *(template.format(f"{s}_") for s in _SIGNALS)]


def _each(
    env: Mapping[str, str],
    names: list[str],
    valid: Callable[[str], bool],
    message: Callable[[str], str],
) -> list[tuple[str, str]]:
    problems = []
    for name in names:
        value = _get(env, name)
        if value is not None and not valid(value):
            problems.append((name, message(value)))
    return problems


def _sampler_problems(env: Mapping[str, str]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    sampler = _get(env, "OTEL_TRACES_SAMPLER")
    names = sampler_names()
    if sampler is not None and sampler.lower() not in names:
        problems.append(("OTEL_TRACES_SAMPLER", _one_of(sampler, names)))
    ratio = _get(env, "OTEL_TRACES_SAMPLER_ARG")
    # Unset, the SDK takes 1.0; set, it must be a ratio (above 1 the SDK raises at start-up).
    if (sampler or "").lower() in _RATIO_SAMPLERS and ratio is not None and not _ratio(ratio):
        problems.append(
            ("OTEL_TRACES_SAMPLER_ARG", f"a ratio from 0 to 1 for {sampler} (got {ratio!r})")
        )
    return problems


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _compression_problems(env: Mapping[str, str]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    allowed = {
        signal: GRPC_COMPRESSIONS if _protocol(env, signal) == "grpc" else _http_compressions()
        for signal in _SIGNALS
    }
    general = _get(env, "OTEL_EXPORTER_OTLP_COMPRESSION")
    if general is not None:
        both = tuple(c for c in allowed["TRACES"] if c in allowed["LOGS"])
        if general.lower() not in both:
            problems.append(("OTEL_EXPORTER_OTLP_COMPRESSION", _one_of(general, both)))
    for signal in _SIGNALS:
        name = f"OTEL_EXPORTER_OTLP_{signal}_COMPRESSION"
        value = _get(env, name)
        if value is not None and value.lower() not in allowed[signal]:
            problems.append((name, _one_of(value, allowed[signal])))
    return problems


def _positive_number(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


def _ratio(value: str) -> bool:
    try:
        return 0.0 <= float(value) <= 1.0
    except ValueError:
        return False


def _integer_at_least(value: str, minimum: int) -> bool:
    try:
        return int(value) >= minimum
    except ValueError:
        return False

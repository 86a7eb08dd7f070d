"""One logging pipeline: structlog and every stdlib logger through the same processors.

structlog loggers are stdlib loggers underneath (``structlog.stdlib.LoggerFactory``); their event
dict travels to the handlers inside the ``LogRecord`` (``ProcessorFormatter.wrap_for_formatter``)
and records from libraries (uvicorn, SQLAlchemy, httpx, ...) run through the same processors as
``foreign_pre_chain``. The root logger holds the handlers: one stdout handler installed here and,
when :func:`loan_desk_telemetry.setup_telemetry` ran, one OTLP handler
(:class:`~loan_desk_telemetry._otlp_log_handler.OtlpLogHandler`).

The pieces live next door: the processors in ``_log_processors``, the stdlib filters in
``_log_filters``, the OTLP handler in ``_otlp_log_handler`` and the loggers kept for hot paths in
``_logger_cache``. This module holds the configuration and its undo.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal, TypeAlias, get_args

import structlog

from loan_desk_telemetry._log_filters import (
    EXPORT_FAILURE_LOGGERS,
    DropRelogged,
    ExportErrorRateLimit,
    ExportFailureAsWarning,
)
from loan_desk_telemetry._log_processors import pre_chain, renderer_chain
from loan_desk_telemetry._logger_cache import forget_bound_loggers
from loan_desk_telemetry._otlp_log_handler import OtlpLogHandler
from loan_desk_telemetry._resource import resolve_service_name

__all__ = [
    "LIBRARY_LEVELS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "LogFormat",
    "LogLevel",
    "configure_logging",
    "reset_logging",
]

#: ``json``, ``console``, or ``auto``: console on a terminal, else JSON.
LogFormat: TypeAlias = Literal["auto", "json", "console"]
#: A level by name; ``configure_logging`` also takes a level number (``logging.DEBUG``, ...).
LogLevel: TypeAlias = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = get_args(LogFormat)
LOG_LEVELS: Final[tuple[LogLevel, ...]] = get_args(LogLevel)

#: Levels for library loggers. uvicorn.access is silenced: the access line per request is ours.
LIBRARY_LEVELS: Final[Mapping[str, int]] = {
    "uvicorn.access": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "asyncio": logging.WARNING,
}

# Loggers that some servers or `echo=True` give handlers of their own; we take those away so every
# line goes through root exactly once.
_PROPAGATING_LOGGERS: Final = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn",
    "gunicorn.error",
    "gunicorn.access",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.engine.Engine",
    "sqlalchemy.pool",
    "httpx",
    "httpcore",
    "fastapi",
)

# Marks the stdout handler configure_logging put on root (a second call replaces it).
_OWNED: Final = "_loan_desk_telemetry_owned"


@dataclass
class _LoggerState:
    level: int
    handlers: list[logging.Handler]
    propagate: bool


@dataclass
class _Before:
    """What the first :func:`configure_logging` changed, as it was: :func:`reset_logging` puts
    it back."""

    root_level: int
    structlog_config: dict[str, Any] | None  # None: structlog ran on its defaults
    loggers: dict[str, _LoggerState]
    export_filters: list[tuple[logging.Logger, logging.Filter]] = field(default_factory=list)

    @classmethod
    def now(cls) -> _Before:
        names = dict.fromkeys([*_PROPAGATING_LOGGERS, *LIBRARY_LEVELS])
        loggers = {}
        for name in names:
            lib = logging.getLogger(name)
            loggers[name] = _LoggerState(lib.level, list(lib.handlers), lib.propagate)
        return cls(
            root_level=logging.getLogger().level,
            structlog_config=structlog.get_config() if structlog.is_configured() else None,
            loggers=loggers,
        )

    def restore(self) -> None:
        logging.getLogger().setLevel(self.root_level)
        for name, state in self.loggers.items():
            lib = logging.getLogger(name)
            lib.setLevel(state.level)
            lib.propagate = state.propagate
            for handler in state.handlers:
                if handler not in lib.handlers:
                    lib.addHandler(handler)
        for exporter_logger, export_filter in self.export_filters:
            exporter_logger.removeFilter(export_filter)
        if self.structlog_config is None:
            structlog.reset_defaults()
        else:
            structlog.configure(**self.structlog_config)


class _Undo:
    """The state from before the first :func:`configure_logging` since the last reset."""

    before: _Before | None = None


def _level_number(level: object) -> int:
    if isinstance(level, int) and not isinstance(level, bool) and level >= 0:
        return level
    if isinstance(level, str) and level in LOG_LEVELS:
        return logging.getLevelNamesMapping()[level]
    names = ", ".join(LOG_LEVELS)
    raise ValueError(f"level must be one of {names} or a level number, not {level!r}")


def _check_format(fmt: object) -> None:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")


def _isatty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # closed stream
        return False


def configure_logging(
    *,
    service_name: str,
    level: LogLevel | int = "INFO",
    fmt: LogFormat = "auto",
    stream: IO[str] | None = None,
) -> None:
    """Route structlog and all stdlib loggers through one processor chain to ``stream``.

    ``level``: a name of :data:`LogLevel` or a level number. ``fmt``: ``"json"``, ``"console"``
    or ``"auto"`` (console on a TTY, else JSON). Any other value raises :class:`ValueError`
    before anything changes. ``stream`` defaults to ``sys.stdout``. Idempotent: a second call
    replaces what the first installed. ``OTEL_SERVICE_NAME``, when set, wins over
    ``service_name`` (as in ``setup_telemetry``). :func:`reset_logging` undoes it.
    """
    level_number = _level_number(level)
    _check_format(fmt)
    stream = stream if stream is not None else sys.stdout
    if _Undo.before is None:
        _Undo.before = _Before.now()
    before = _Undo.before

    chain = pre_chain(resolve_service_name(service_name))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # Not cached: a re-configuration (tests, a second call) reaches loggers made earlier.
        cache_logger_on_first_use=False,
    )
    forget_bound_loggers()

    console = fmt == "console" or (fmt == "auto" and _isatty(stream))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain, processors=renderer_chain(console=console)
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ExportErrorRateLimit())
    handler.addFilter(DropRelogged())
    setattr(handler, _OWNED, True)

    root = logging.getLogger()
    _remove_owned_handlers(root)
    root.addHandler(handler)
    root.setLevel(level_number)

    for name in _PROPAGATING_LOGGERS:
        lib = logging.getLogger(name)
        for old in list(lib.handlers):
            lib.removeHandler(old)
        lib.propagate = True
    for name, lib_level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(lib_level)
    for name in EXPORT_FAILURE_LOGGERS:
        exporter_logger = logging.getLogger(name)
        if not any(isinstance(f, ExportFailureAsWarning) for f in exporter_logger.filters):
            export_filter = ExportFailureAsWarning()
            exporter_logger.addFilter(export_filter)
            before.export_filters.append((exporter_logger, export_filter))


def _remove_owned_handlers(root: logging.Logger, *, otlp: bool = False) -> None:
    for old in list(root.handlers):
        if getattr(old, _OWNED, False) or (otlp and isinstance(old, OtlpLogHandler)):
            root.removeHandler(old)


def reset_logging() -> None:
    """Undo :func:`configure_logging` and take the OTLP handler off the root logger (for tests).

    The root logger's level, the library loggers' levels, handlers and ``propagate`` flags, the
    exporters' filters and structlog's configuration are back as they were before the first
    :func:`configure_logging`; the stdout and OTLP handlers are removed, the kept bound loggers
    and structlog's context variables cleared. Safe to call when nothing was configured.
    """
    root = logging.getLogger()
    _remove_owned_handlers(root, otlp=True)
    before, _Undo.before = _Undo.before, None
    if before is not None:
        before.restore()
    structlog.contextvars.clear_contextvars()
    forget_bound_loggers()

"""Bound structlog loggers kept for hot paths, forgotten when the logging configuration changes.

structlog is configured without logger caching (``cache_logger_on_first_use=False``), so that a
re-configuration reaches loggers made earlier; a lazy proxy then binds a new logger on every
call. A path that logs on every request (the access line) takes its logger from here instead:
bound once per configuration, since :func:`~loan_desk_telemetry.configure_logging` and
:func:`~loan_desk_telemetry.reset_logging` call :func:`forget_bound_loggers`.
"""

from __future__ import annotations

import threading
from typing import Final

import structlog

__all__ = ["BoundLoggers", "bound_logger", "forget_bound_loggers"]

# Logger names come from code, not data; the bound keeps a mistake from growing without limit.
_MAX_LOGGERS: Final = 256


class BoundLoggers:
    """One bound logger per name, made on first use after the last :meth:`clear`."""

    def __init__(self) -> None:
        self._loggers: dict[str, structlog.stdlib.BoundLogger] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> structlog.stdlib.BoundLogger:
        logger = self._loggers.get(name)
        if logger is None:
            logger = structlog.stdlib.get_logger(name).bind()
            with self._lock:
                if len(self._loggers) >= _MAX_LOGGERS:
                    self._loggers.clear()
                logger = self._loggers.setdefault(name, logger)
        return logger

    def clear(self) -> None:
        with self._lock:
            self._loggers.clear()

    def __len__(self) -> int:
        return len(self._loggers)


_loggers = BoundLoggers()


def bound_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger for ``name``, made once per logging configuration."""
    return _loggers.get(name)


def forget_bound_loggers() -> None:
    """Drop every kept logger: the next :func:`bound_logger` call binds one with the current
    configuration."""
    _loggers.clear()

"""``LOG_LEVEL`` and ``LOG_FORMAT``, the same for every service (mixed into its settings).

The values are those :func:`loan_desk_telemetry.configure_logging` takes; a level is also
accepted in lower case (``LOG_LEVEL=debug``). Any other value is a configuration problem: the
service's command stops before it starts, with one line naming the variable and exit code 2
(``servicekit.cli``).
"""

from __future__ import annotations

from typing import get_args

from pydantic import field_validator
from pydantic_settings import BaseSettings

# The names configure_logging's ``level`` and ``fmt`` take, as the package declares them
# (``fmt``: console on a terminal for ``auto``, else JSON). Re-exported for servicekit's modules.
from loan_desk_telemetry import LogFormat, LogLevel

__all__ = ["LogFormat", "LogLevel", "LogSettings"]


class LogSettings(BaseSettings):
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "auto"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        # Only a known name is upper-cased: a wrong value is reported as it was written.
        if isinstance(value, str) and value.upper() in get_args(LogLevel):
            return value.upper()
        return value

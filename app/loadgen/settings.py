"""The load generator's settings, from the environment (prefix ``LOADGEN_``).

LOADGEN_API_URL (http://127.0.0.1:8000), LOADGEN_FLOWS_PER_SECOND (1.0), LOADGEN_CONCURRENCY (4),
LOADGEN_DURATION_SECONDS (0 = until stopped), LOADGEN_BAD_REQUEST_SHARE (0.1),
LOADGEN_UNREADABLE_SHARE (0.05), LOADGEN_SEED (none).

Canary: LOADGEN_CANARY_URL (none) and LOADGEN_CANARY_SHARE (0.0): that share of the flows goes
to the canary (a whole flow each, like a sticky load balancer).

Run-time control (``loadgen.control``): LOADGEN_ADMIN_TOKEN_FILE (or LOADGEN_ADMIN_TOKEN), the
api's admin token, and LOADGEN_CONTROL_INTERVAL_SECONDS (5). The token is read and held to the
services' rule by the same function (``servicekit.trainer.settings.read_admin_token``: at least
32 characters, no placeholder); a weak or unreadable one, or any invalid setting, is reported
by :func:`configuration_problems`.

Logging: LOG_LEVEL and LOG_FORMAT, without the prefix, read and checked as the services read them
(:class:`servicekit.log_settings.LogSettings`; :func:`log_settings`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, HttpUrl, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.cli import validation_problems
from servicekit.log_settings import LogSettings
from servicekit.trainer.settings import WeakAdminTokenError, read_admin_token, token_variable


class LoadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOADGEN_", extra="ignore")

    api_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    flows_per_second: float = Field(default=1.0, gt=0, le=100)
    concurrency: int = Field(default=4, ge=1, le=64)
    duration_seconds: float = Field(default=0, ge=0)
    bad_request_share: float = Field(default=0.1, ge=0, le=1)
    unreadable_share: float = Field(default=0.05, ge=0, le=1)
    seed: int | None = None
    canary_url: HttpUrl | None = None
    canary_share: float = Field(default=0.0, ge=0, le=1)
    admin_token_file: Path | None = None
    admin_token: SecretStr | None = None
    control_interval_seconds: float = Field(default=5.0, gt=0, le=300)

    def admin_token_value(self) -> str | None:
        """The admin token (None: no run-time control), read and checked as the services do
        (:func:`servicekit.trainer.settings.read_admin_token`)."""
        return read_admin_token(self.admin_token_file, self.admin_token)

    def problems(self) -> list[tuple[str, str]]:
        """``(variable, what is wrong)`` for what pydantic cannot check: the admin token."""
        try:
            self.admin_token_value()
        except WeakAdminTokenError as exc:
            variable = token_variable(self.admin_token_file, self.admin_token, neither="")
            return [(f"LOADGEN_{variable}", str(exc))]
        return []


def configuration_problems() -> tuple[LoadSettings | None, list[str]]:
    """The settings, or one line per invalid setting naming its variable (never a value)."""
    try:
        settings = LoadSettings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "LOADGEN_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        return None, lines
    return settings, [f"{name}: {message}" for name, message in settings.problems()]


def log_settings() -> tuple[LogSettings | None, list[str]]:
    """LOG_LEVEL and LOG_FORMAT, or one line per invalid one, worded as the services word it
    (``servicekit.cli``: the variable, pydantic's message, the value it got)."""
    try:
        return LogSettings(), []
    except ValidationError as exc:
        return None, [f"{name}: {message}" for name, message in validation_problems(exc).items()]

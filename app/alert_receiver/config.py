"""Settings of the alert receiver, from environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.log_settings import LogSettings
from servicekit.trainer.settings import AdminSettings

# A notification of Alertmanager's webhook is a few kB per alert (labels, annotations, the
# group's common labels). 1 MiB holds a group of several hundred alerts; Alertmanager's
# `max_alerts` on the webhook config keeps a bigger group under it.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class ReceiverSettings(AdminSettings, LogSettings):
    """ADMIN_ENABLED, ADMIN_TOKEN_FILE and ADMIN_TOKEN (trainer mode) come from AdminSettings:
    the receiver offers the HTTP scenarios, so a trainer can make it answer 500 and watch
    Alertmanager retry (docs/alerting.md)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    app_env: Literal["development", "test", "demo", "production"] = "development"
    # service.version and app_info{version}; default: the code's __version__.
    service_version: str | None = Field(default=None, min_length=1, max_length=64)
    alert_receiver_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=4096, le=16 * 1024 * 1024
    )


@lru_cache
def get_settings() -> ReceiverSettings:
    return ReceiverSettings()

"""Settings of the alert receiver, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from servicekit.settings import ServiceSettings

# A notification of Alertmanager's webhook is a few kB per alert (labels, annotations, the
# group's common labels). 1 MiB holds a group of several hundred alerts; Alertmanager's
# `max_alerts` on the webhook config keeps a bigger group under it.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class ReceiverSettings(ServiceSettings):
    """APP_ENV, SERVICE_VERSION, LOG_LEVEL, LOG_FORMAT and trainer mode's ADMIN_* come from
    ServiceSettings; the receiver offers the HTTP scenarios, so a trainer can make it answer
    500 and watch Alertmanager retry (docs/alerting.md)."""

    alert_receiver_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=4096, le=16 * 1024 * 1024
    )


@lru_cache
def get_settings() -> ReceiverSettings:
    return ReceiverSettings()

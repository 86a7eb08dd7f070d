"""Settings of the tagger, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from servicekit.settings import ServiceSettings


class TaggerSettings(ServiceSettings):
    """APP_ENV, SERVICE_VERSION, LOG_LEVEL, LOG_FORMAT and trainer mode's ADMIN_* come from
    ServiceSettings."""

    tagger_max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)


@lru_cache
def get_settings() -> TaggerSettings:
    return TaggerSettings()

"""Settings of the tagger, from environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.log_settings import LogSettings
from servicekit.trainer.settings import AdminSettings


class TaggerSettings(AdminSettings, LogSettings):
    """ADMIN_ENABLED, ADMIN_TOKEN_FILE and ADMIN_TOKEN (trainer mode) come from AdminSettings."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    app_env: Literal["development", "test", "demo", "production"] = "development"
    # service.version and app_info{version}; default: the code's __version__.
    service_version: str | None = Field(default=None, min_length=1, max_length=64)
    tagger_max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)


@lru_cache
def get_settings() -> TaggerSettings:
    return TaggerSettings()

"""The settings every service has, from environment variables; each service's ``Settings``
subclasses :class:`ServiceSettings` and adds its own.

``APP_ENV``          ``development`` (default), ``test``, ``demo`` or ``production``
``SERVICE_VERSION``  the version the telemetry reports (OTel ``service.version``,
                     ``app_info{version}``); default: the code's ``__version__``. A canary of the
                     same image sets its own.
``LOG_LEVEL``        ``DEBUG``, ``INFO`` (default), ``WARNING``, ``ERROR`` or ``CRITICAL``, in any
                     case
``LOG_FORMAT``       ``auto`` (default), ``json`` or ``console``

``LOG_*`` come from :class:`servicekit.log_settings.LogSettings`, trainer mode's ``ADMIN_*`` from
:class:`servicekit.trainer.settings.AdminSettings`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.log_settings import LogSettings
from servicekit.trainer.settings import AdminSettings


class ServiceSettings(AdminSettings, LogSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    app_env: Literal["development", "test", "demo", "production"] = "development"
    service_version: str | None = Field(default=None, min_length=1, max_length=64)

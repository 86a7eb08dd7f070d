"""Settings of the api, from environment variables (names as in compose.yaml and the README)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, field_validator
from sqlalchemy import make_url

from loan_api.database import database_url_problem
from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    """APP_ENV, SERVICE_VERSION, LOG_LEVEL, LOG_FORMAT and trainer mode's ADMIN_* come from
    ServiceSettings."""

    database_url: str = "sqlite+aiosqlite:///./loan_api.db"
    # A file holding the database password (a compose/Kubernetes secret); it fills the password
    # of DATABASE_URL, so the URL in the environment carries none.
    database_password_file: Path | None = None
    database_pool_size: int = Field(default=5, ge=1, le=100)

    tagger_url: HttpUrl = HttpUrl("http://127.0.0.1:8001")
    # The whole tagger call may take this long; connecting gets a shorter budget so an
    # unreachable tagger fails fast.
    tagger_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    tagger_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=30)

    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)

    email_backend: Literal["log", "smtp"] = "log"
    email_from: str = "loan-desk@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        problem = database_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("database_password_file")
    @classmethod
    def _readable_password_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                value.read_text()
            except OSError as exc:
                raise ValueError(f"cannot be read ({type(exc).__name__})") from None
        return value

    def database_dsn(self) -> str:
        """DATABASE_URL with the password from DATABASE_PASSWORD_FILE, when one is given."""
        if self.database_password_file is None:
            return self.database_url
        password = self.database_password_file.read_text().strip()
        return (
            make_url(self.database_url).set(password=password).render_as_string(hide_password=False)
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""The README lists every environment variable the services and the load generator read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from alert_receiver.config import ReceiverSettings
from doc_tagger.config import TaggerSettings
from loadgen.settings import LoadSettings
from loan_api.config import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def variables(settings: type[BaseSettings]) -> list[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return [(prefix + name).upper() for name in settings.model_fields]


@pytest.mark.parametrize("settings", [Settings, TaggerSettings, ReceiverSettings, LoadSettings])
def test_every_setting_is_documented(settings: type[BaseSettings]) -> None:
    text = README.read_text()
    undocumented = [name for name in variables(settings) if f"`{name}`" not in text]
    assert undocumented == []


def test_the_check_sees_the_settings() -> None:
    assert "DATABASE_URL" in variables(Settings)
    assert "LOADGEN_API_URL" in variables(LoadSettings)

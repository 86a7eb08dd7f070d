from __future__ import annotations

import pytest

from loan_api.cli import main as loan_api_main
from loan_api.config import get_settings


def test_invalid_settings_stop_the_command_with_one_line_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("TAGGER_URL", "not-a-url")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "12")
    try:
        assert loan_api_main(["migrate"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "loan-api: the configuration is not valid:"
    assert err[1].startswith("  TAGGER_URL: ")
    assert "'not-a-url'" in err[1]
    assert err[2].startswith("  MAX_UPLOAD_BYTES: ")
    assert len(err) == 3

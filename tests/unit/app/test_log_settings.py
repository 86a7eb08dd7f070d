"""LOG_LEVEL and LOG_FORMAT: one definition for every service, the values configure_logging
takes, and a wrong one stops the command with exit code 2 and one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import alert_receiver.cli
import alert_receiver.config
import doc_tagger.cli
import doc_tagger.config
import loan_api.cli
import loan_api.config
import loan_desk_telemetry
from servicekit.log_settings import LogFormat, LogLevel, LogSettings

ROOT = Path(__file__).resolve().parents[3]

SERVICES: list[tuple[str, Callable[[Sequence[str]], int], Any]] = [
    ("loan-api", loan_api.cli.main, loan_api.config.get_settings),
    ("doc-tagger", doc_tagger.cli.main, doc_tagger.config.get_settings),
    ("alert-receiver", alert_receiver.cli.main, alert_receiver.config.get_settings),
]
LEVEL_CHOICES = "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    for _, _, get_settings in SERVICES:
        get_settings.cache_clear()
    yield
    for _, _, get_settings in SERVICES:
        get_settings.cache_clear()


def test_the_settings_offer_what_configure_logging_takes() -> None:
    # The package's own aliases, not a copy that could drift from what configure_logging takes.
    assert LogLevel is loan_desk_telemetry.LogLevel
    assert LogFormat is loan_desk_telemetry.LogFormat
    fields = LogSettings.model_fields
    assert (fields["log_level"].annotation, fields["log_format"].annotation) == (
        loan_desk_telemetry.LogLevel,
        loan_desk_telemetry.LogFormat,
    )


@pytest.mark.parametrize(("prog", "main", "get_settings"), SERVICES)
def test_every_service_reads_both_settings(
    prog: str,
    main: Callable[[Sequence[str]], int],
    get_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")  # any case
    monkeypatch.setenv("LOG_FORMAT", "json")
    settings = get_settings()
    assert isinstance(settings, LogSettings)
    assert (settings.log_level, settings.log_format) == ("WARNING", "json")


@pytest.mark.parametrize(("prog", "main", "get_settings"), SERVICES)
@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("LOG_LEVEL", "verbose", f"LOG_LEVEL: Input should be {LEVEL_CHOICES} (got 'verbose')"),
        ("LOG_LEVEL", "10", f"LOG_LEVEL: Input should be {LEVEL_CHOICES} (got '10')"),
        (
            "LOG_FORMAT",
            "pretty",
            "LOG_FORMAT: Input should be 'auto', 'json' or 'console' (got 'pretty')",
        ),
    ],
)
def test_a_wrong_value_stops_the_command_with_one_line(
    prog: str,
    main: Callable[[Sequence[str]], int],
    get_settings: Any,
    variable: str,
    value: str,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["loggers"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{prog}: the configuration is not valid:",
        f"  {problem}",
    ]
    assert captured.out == ""


def test_the_process_exits_with_status_2_and_no_traceback() -> None:
    env = {**os.environ, "LOG_FORMAT": "pretty", "LOG_LEVEL": "INFO"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "app"), str(ROOT / "packages/loan-desk-telemetry/src")]
    )
    result = subprocess.run(
        [sys.executable, "-m", "doc_tagger.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "doc-tagger: the configuration is not valid:",
        "  LOG_FORMAT: Input should be 'auto', 'json' or 'console' (got 'pretty')",
    ]
    assert "Traceback" not in result.stderr

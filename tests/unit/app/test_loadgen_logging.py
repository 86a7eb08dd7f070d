"""The load generator honours LOG_LEVEL and LOG_FORMAT as the services do: the same settings,
the services' logging pipeline, and a wrong value stops it with exit code 2 and one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import loan_api.cli
import loan_api.config
from loadgen.cli import main
from loadgen.settings import log_settings
from servicekit.log_settings import LogSettings
from tests.support.tools import environment_without

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _short_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LOADGEN_ADMIN_TOKEN", "LOADGEN_ADMIN_TOKEN_FILE", "LOG_LEVEL", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOADGEN_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LOADGEN_DURATION_SECONDS", "0.2")
    loan_api.config.get_settings.cache_clear()
    yield
    loan_api.config.get_settings.cache_clear()


def test_it_reads_the_services_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")  # any case, as the services take it
    monkeypatch.setenv("LOG_FORMAT", "console")
    settings, problems = log_settings()
    assert problems == []
    assert isinstance(settings, LogSettings)
    assert (settings.log_level, settings.log_format) == ("WARNING", "console")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("LOG_LEVEL", "verbose"), ("LOG_LEVEL", "10"), ("LOG_FORMAT", "pretty")],
)
def test_a_wrong_value_is_the_line_the_services_print(
    variable: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert loan_api.cli.main(["loggers"]) == 2
    service_lines = capsys.readouterr().err.splitlines()
    assert main() == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "loadgen: the configuration is not valid:",
        *service_lines[1:],
    ]
    assert len(service_lines) == 2
    assert service_lines[1].startswith(f"  {variable}: Input should be ")
    assert service_lines[1].endswith(f" (got {value!r})")


def test_every_wrong_setting_is_named_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "pretty")
    monkeypatch.setenv("LOG_LEVEL", "loud")
    monkeypatch.setenv("LOADGEN_CONCURRENCY", "0")
    assert main() == 2
    names = [line.split(":")[0].strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert names == ["LOADGEN_CONCURRENCY", "LOG_LEVEL", "LOG_FORMAT"]


def run_loadgen(**environment: str) -> subprocess.CompletedProcess[str]:
    env = environment_without(
        "OTEL_",
        "LOG_",
        "LOADGEN_",
        LOADGEN_API_URL="http://127.0.0.1:9",
        LOADGEN_DURATION_SECONDS="0.2",
    )
    env |= environment
    return subprocess.run(
        [sys.executable, "-m", "loadgen"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_lines_at_info_go_through_the_services_pipeline() -> None:
    result = run_loadgen(LOG_FORMAT="json", LOG_LEVEL="INFO")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["loadgen.start", "loadgen.done"]
    for line in lines:
        # The keys configure_logging adds, which the loadgen's own renderer never wrote.
        assert (line["level"], line["logger"], line["service"]) == ("info", "loadgen", "loadgen")
        assert line["timestamp"].endswith("Z")


def test_warning_leaves_out_the_info_lines() -> None:
    result = run_loadgen(LOG_FORMAT="json", LOG_LEVEL="WARNING")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_console_format_is_not_json() -> None:
    result = run_loadgen(LOG_FORMAT="console", LOG_LEVEL="INFO")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert "loadgen.start" in lines[0]
    assert not lines[0].startswith("{")


def test_a_wrong_value_exits_2_without_a_traceback() -> None:
    result = run_loadgen(LOG_FORMAT="pretty")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "loadgen: the configuration is not valid:",
        "  LOG_FORMAT: Input should be 'auto', 'json' or 'console' (got 'pretty')",
    ]
    assert result.stdout == ""


def test_the_api_url_is_logged_without_its_user_info() -> None:
    result = run_loadgen(
        LOG_FORMAT="json", LOADGEN_API_URL="http://trainer:s3cret-pass@127.0.0.1:9/"
    )
    assert result.returncode == 0, result.stderr
    (start,) = [
        json.loads(line)
        for line in result.stdout.splitlines()
        if json.loads(line)["event"] == "loadgen.start"
    ]
    assert "s3cret-pass" not in result.stdout + result.stderr
    assert "trainer" not in start["api_url"]
    assert start["api_url"].endswith("127.0.0.1:9/")

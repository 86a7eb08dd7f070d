"""The load generator refuses a weak admin token the way the services do: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.cli import main
from loadgen.control import TrafficControl
from loadgen.settings import LoadSettings
from servicekit.trainer.settings import AdminSettings, WeakAdminTokenError

STRONG = "k3Jq9vXz2LmP8rTn5WcY7bHd4FgS6aQe"


@pytest.fixture(autouse=True)
def _short_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the check, main() would run: briefly, against nothing, and return 0.
    for name in ("LOADGEN_ADMIN_TOKEN", "LOADGEN_ADMIN_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOADGEN_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LOADGEN_DURATION_SECONDS", "0.2")


def _refusal(capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main() == 2
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("changeme-changeme-changeme-changeme", "looks like a placeholder (contains 'changeme')"),
        ("", "shorter than 32 characters"),
        ("t" * 40, "too few distinct characters"),
    ],
)
def test_a_weak_token_file_stops_it_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
    problem: str,
) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text(content + "\n")
    monkeypatch.setenv("LOADGEN_ADMIN_TOKEN_FILE", str(token_file))
    assert _refusal(capsys) == [
        "loadgen: the configuration is not valid:",
        f"  LOADGEN_ADMIN_TOKEN_FILE: the admin token is refused: {problem}",
    ]


def test_a_weak_token_in_the_environment_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOADGEN_ADMIN_TOKEN", "hunter2")
    err = _refusal(capsys)
    assert err[1:] == [
        "  LOADGEN_ADMIN_TOKEN: the admin token is refused: shorter than 32 characters"
    ]
    assert "hunter2" not in "\n".join(err)


def test_an_unreadable_token_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    monkeypatch.setenv("LOADGEN_ADMIN_TOKEN_FILE", str(missing))
    assert _refusal(capsys)[1:] == [
        f"  LOADGEN_ADMIN_TOKEN_FILE: the admin token file {missing} cannot be read: "
        "FileNotFoundError"
    ]


def test_a_token_file_that_is_not_text_is_named_without_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `head -c 32 /dev/urandom > token` instead of a text token: no traceback, no byte of it.
    binary = tmp_path / "token"
    binary.write_bytes(b"\xb6\xff" * 24)
    monkeypatch.setenv("LOADGEN_ADMIN_TOKEN_FILE", str(binary))
    err = _refusal(capsys)
    assert err[1:] == [
        f"  LOADGEN_ADMIN_TOKEN_FILE: the admin token file {binary} cannot be read: "
        "UnicodeDecodeError"
    ]
    assert "0xb6" not in "\n".join(err)
    assert "xb6" not in "\n".join(err)


def test_an_out_of_range_setting_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOADGEN_FLOWS_PER_SECOND", "0")
    monkeypatch.setenv("LOADGEN_ADMIN_TOKEN", "hunter2")
    err = _refusal(capsys)
    assert err[0] == "loadgen: the configuration is not valid:"
    assert err[1] == "  LOADGEN_FLOWS_PER_SECOND: Input should be greater than 0"
    assert len(err) == 2  # the token cannot be checked before the settings load


def test_traffic_control_takes_only_a_strong_token() -> None:
    assert TrafficControl(LoadSettings(admin_token=STRONG)).token == STRONG
    with pytest.raises(WeakAdminTokenError, match="shorter than 32 characters"):
        TrafficControl(LoadSettings(admin_token="hunter2"))


@pytest.mark.parametrize(
    "content",
    [STRONG, "changeme-changeme-changeme-changeme", "short", "t" * 40, None],
)
def test_the_loadgen_and_the_services_read_a_token_file_alike(
    tmp_path: Path, content: str | None
) -> None:
    token_file = tmp_path / "admin-token"
    if content is not None:  # None: the file is missing
        token_file.write_text(content + "\n")
    service = AdminSettings(admin_enabled=True, admin_token_file=token_file)
    loadgen = LoadSettings(admin_token_file=token_file)
    assert loadgen.problems() == [(f"LOADGEN_{name}", why) for name, why in service.problems()]
    if content == STRONG:
        assert loadgen.admin_token_value() == service.admin_token_value() == STRONG
    else:
        assert len(loadgen.problems()) == 1

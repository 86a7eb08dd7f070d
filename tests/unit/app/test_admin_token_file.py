"""The services' reading of ADMIN_TOKEN_FILE on its error paths: a file that is not text is a
configuration problem naming the variable, not a traceback, and no byte of it is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicekit.trainer.settings import AdminSettings, WeakAdminTokenError, read_admin_token

BINARY = b"\xb6\xff" * 24  # `head -c 48 /dev/urandom > token`: not UTF-8


def test_a_binary_token_file_is_refused_by_name(tmp_path: Path) -> None:
    token_file = tmp_path / "admin_token"
    token_file.write_bytes(BINARY)
    with pytest.raises(WeakAdminTokenError) as refused:
        read_admin_token(token_file, None)
    assert str(refused.value) == (
        f"the admin token file {token_file} cannot be read: UnicodeDecodeError"
    )
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_the_services_report_it_as_a_problem_of_the_file_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "admin_token"
    token_file.write_bytes(BINARY)
    monkeypatch.setenv("ADMIN_ENABLED", "true")
    monkeypatch.setenv("ADMIN_TOKEN_FILE", str(token_file))
    problems = AdminSettings().problems()
    assert problems == [
        (
            "ADMIN_TOKEN_FILE",
            f"the admin token file {token_file} cannot be read: UnicodeDecodeError",
        )
    ]
    assert "xb6" not in repr(problems)

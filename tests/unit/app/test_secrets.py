from __future__ import annotations

from pathlib import Path

import pytest

from loan_api.config import Settings
from servicekit.secrets_init import ensure_secret, main


def test_secret_is_created_once_and_then_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    assert ensure_secret(tmp_path, "postgres_password") is True
    first = (tmp_path / "postgres_password").read_text()
    assert len(first) == 48
    assert first not in {"admin", "postgres", "password"}
    monkeypatch.setenv("POSTGRES_PASSWORD", "from-the-environment")
    assert ensure_secret(tmp_path, "postgres_password") is False
    assert (tmp_path / "postgres_password").read_text() == first
    assert (tmp_path / "postgres_password").stat().st_mode & 0o777 == 0o444


def test_environment_value_is_used_for_a_new_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "chosen-by-me")
    assert main([str(tmp_path), "grafana_admin_password"]) == 0
    assert (tmp_path / "grafana_admin_password").read_text() == "chosen-by-me"


def test_two_runs_generate_different_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("A_PASSWORD", raising=False)
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        ensure_secret(tmp_path / folder, "a_password")
    assert (tmp_path / "one" / "a_password").read_text() != (
        tmp_path / "two" / "a_password"
    ).read_text()


@pytest.mark.parametrize("name", ["", "../etc/passwd", "Upper"])
def test_bad_secret_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="secret names"):
        ensure_secret(tmp_path, name)


def test_database_password_comes_from_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "postgres_password"
    secret.write_text("s3cret-hex\n")
    settings = Settings(
        database_url="postgresql+asyncpg://loan@postgres:5432/loan", database_password_file=secret
    )
    assert settings.database_dsn() == "postgresql+asyncpg://loan:s3cret-hex@postgres:5432/loan"
    assert (
        Settings(database_url="sqlite+aiosqlite:///x.db").database_dsn()
        == "sqlite+aiosqlite:///x.db"
    )

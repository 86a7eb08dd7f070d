from __future__ import annotations

from pathlib import Path

import pytest

from servicekit.serve import _fresh_multiprocess_dir


def test_multiprocess_dir_starts_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    _fresh_multiprocess_dir()
    assert sorted(p.name for p in directory.iterdir()) == ["keep.txt"]


def test_multiprocess_dir_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "new"))
    _fresh_multiprocess_dir()
    assert (tmp_path / "new").is_dir()

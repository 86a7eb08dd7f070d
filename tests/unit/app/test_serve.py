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


def test_workers_get_time_to_start_before_the_healthcheck_kills_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import inspect

    import uvicorn
    from uvicorn.supervisors.multiprocess import Multiprocess

    from servicekit import serve

    # The names serve_app relies on, as uvicorn 0.54.0 declares them (uvicorn/main.py run(),
    # uvicorn/supervisors/multiprocess.py): an upgrade that renames them fails here.
    assert "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters
    assert "timeout_worker_healthcheck" in inspect.getsource(Multiprocess.keep_subprocess_alive)

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    serve.serve_app(
        "loan_api.main:create_app",
        host="127.0.0.1",
        port=8000,
        workers=2,
        service_name="loan-api",
        log_level="INFO",
        log_format="json",
    )
    from loan_desk_telemetry import reset_logging

    reset_logging()
    assert len(calls) == 1
    assert calls[0]["timeout_worker_healthcheck"] == serve.WORKER_HEALTHCHECK_SECONDS == 30
    assert calls[0]["workers"] == 2

"""Debian's Prometheus and Alertmanager (and any server that answers a readiness URL) as child
processes: one way to start them, wait until they answer, and stop them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_ready(
    name: str, ready_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    """Until ``ready_url`` answers 200; the end of ``log`` in the error when the process exits
    or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')[-4000:]}")
        with suppress(httpx.HTTPError):
            if httpx.get(ready_url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(
        f"{name} not ready after {timeout} s:\n{log.read_text(errors='replace')[-4000:]}"
    )


@contextmanager
def running_daemon(
    name: str,
    argv: Sequence[str],
    *,
    ready_url: str,
    log: Path,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` with its output in ``log``, once ``ready_url`` answers 200; stopped on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd
        )
    try:
        wait_ready(name, ready_url, process, log, timeout)
        yield process
    finally:
        stop_process(process)

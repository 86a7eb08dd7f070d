"""Finding the outside programs and servers that a test tier needs.

Locally a missing backend skips its tests with the reason; under CI (``CI=true``) it fails them,
because CI installs every backend its tier needs and a skip there would hide a broken install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> NoReturn:
    """Skip locally, fail under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this backend is required)", pytrace=False)
    pytest.skip(reason)


def require_executable(name: str, *extra_dirs: str) -> str:
    """Path of an executable on PATH (or in one of ``extra_dirs``), or skip/fail."""
    found = shutil.which(name)
    if found is None:
        for directory in extra_dirs:
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK):
                found = candidate
                break
    if found is None:
        missing(f"`{name}` is not installed (Debian: apt-get install {name})")
    return found


def environment_without(*prefixes: str, **extra: str) -> dict[str, str]:
    """This process's environment without the variables starting with ``prefixes``, plus
    ``extra``: what a fresh interpreter in a test starts with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def run_python(
    code: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> str:
    """The standard output of ``python -c code args`` in a fresh interpreter (this one's); a
    non-zero exit fails the test with the child's standard error, a hang with a timeout."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(f"python -c exited {result.returncode}:\n{result.stderr}", pytrace=False)
    return result.stdout

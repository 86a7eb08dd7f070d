"""Finding the outside programs and servers that a test tier needs.

Locally a missing backend skips its tests with the reason; under CI (``CI=true``) it fails them,
because CI installs every backend its tier needs and a skip there would hide a broken install.
"""

from __future__ import annotations

import os
import shutil
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

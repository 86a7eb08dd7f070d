"""Optional dependencies (the package's extras): a clear error when one is missing."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from types import ModuleType
from typing import Final, Literal, TypeAlias

DISTRIBUTION: Final = "loan-desk-telemetry"
#: The package's extras (``[project.optional-dependencies]`` of its pyproject.toml).
Extra: TypeAlias = Literal["sqlalchemy", "httpx", "grpc"]


def require(module: str, *, extra: Extra, needed_by: str) -> ModuleType:
    """Import ``module`` or raise ``ModuleNotFoundError`` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{needed_by} needs the {extra!r} extra ({exc.name} is not installed): "
            f"pip install '{DISTRIBUTION}[{extra}]'",
            name=exc.name,
        ) from exc


def distribution_version() -> str:
    """The version of the installed distribution, ``0+unknown`` when it is not installed (its
    source tree on ``sys.path``)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def available(module: str) -> bool:
    """Whether ``module`` (a top-level package) is installed, without importing it."""
    return importlib.util.find_spec(module) is not None

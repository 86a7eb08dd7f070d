"""The public API is `loan_desk_telemetry.__all__`, what its docstring shows, and nothing else."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import tomllib
from pathlib import Path

import pytest

import loan_desk_telemetry
from tests.support.tools import run_python

PUBLIC = [
    "DEFAULT_EXCLUDED_PATHS",
    "REDACTED",
    "SENSITIVE_KEYS",
    "UNMATCHED",
    "LogFormat",
    "LogLevel",
    "PrometheusMiddleware",
    "Telemetry",
    "__version__",
    "already_logged",
    "configure_logging",
    "environment_problems",
    "exception_message",
    "instrument_app",
    "instrument_httpx_client",
    "instrument_sqlalchemy",
    "is_sensitive_key",
    "loggers",
    "mark_logged",
    "match_route",
    "record_exception",
    "redact",
    "redact_text",
    "redact_url",
    "reset_logging",
    "resolve_service_name",
    "route_of",
    "setup_telemetry",
    "testing",
    "uninstrument_app",
]
PUBLIC_MODULES = {"loggers", "testing"}
DUNDERS = {"__version__"}
PACKAGE_PYPROJECT = Path(__file__).parents[3] / "packages/loan-desk-telemetry/pyproject.toml"


def test_all_is_pinned() -> None:
    assert loan_desk_telemetry.__all__ == PUBLIC


def test_every_public_name_is_importable_and_shown_in_the_docstring() -> None:
    doc = loan_desk_telemetry.__doc__ or ""
    for name in PUBLIC:
        assert getattr(loan_desk_telemetry, name) is not None
        shown = f"``{name}" if name not in PUBLIC_MODULES else f"``loan_desk_telemetry.{name}``"
        assert shown in doc, name


def test_every_other_module_is_private() -> None:
    modules = {info.name for info in pkgutil.iter_modules(loan_desk_telemetry.__path__)}
    assert {name for name in modules if not name.startswith("_")} == PUBLIC_MODULES
    # Importing every module (which binds each as an attribute of the package) adds no public name.
    for name in modules:
        importlib.import_module(f"loan_desk_telemetry.{name}")
    public = {name for name in vars(loan_desk_telemetry) if not name.startswith("_")}
    assert public <= set(PUBLIC), sorted(public - set(PUBLIC))


@pytest.mark.parametrize(
    "name", ["routes", "telemetry", "log_config", "os", "annotations", "HttpMetrics", "Final"]
)
def test_a_private_name_is_not_importable_from_the_top_level(name: str) -> None:
    with pytest.raises(ImportError):
        exec(f"from loan_desk_telemetry import {name}", {})


def test_a_fresh_import_binds_exactly_the_public_names() -> None:
    # In a new interpreter: what `import loan_desk_telemetry` alone exposes, before any lazy module.
    code = (
        "import loan_desk_telemetry as o; "
        "print(sorted(n for n in vars(o) if not n.startswith('_')))"
    )
    assert run_python(code, timeout=60).strip() == repr(
        sorted(set(PUBLIC) - PUBLIC_MODULES - DUNDERS)
    )


def test_version_is_the_distributions() -> None:
    declared = tomllib.loads(PACKAGE_PYPROJECT.read_text())["project"]["version"]
    assert loan_desk_telemetry.__version__ == importlib.metadata.version("loan-desk-telemetry")
    assert loan_desk_telemetry.__version__ == declared

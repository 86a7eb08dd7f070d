"""The import-linter contracts that keep ``loan_desk_telemetry`` free of the services (and
servicekit free of them too) name every service, and they bite: a forbidden import fails them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_SOURCE = ROOT / "packages" / "loan-desk-telemetry" / "src" / "loan_desk_telemetry"
PACKAGE = "loan_desk_telemetry"
SERVICEKIT = "servicekit"


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _service_packages() -> set[str]:
    """Every package the repository's wheel ships (``app/<name>``): the services, servicekit,
    loadgen."""
    packages = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return {Path(p).name for p in packages}


def _contract(source: str) -> dict[str, Any]:
    contracts = _pyproject()["tool"]["importlinter"]["contracts"]
    (found,) = [c for c in contracts if c.get("source_modules") == [source]]
    return found


@pytest.mark.parametrize(
    ("source", "exempt"), [(PACKAGE, set()), (SERVICEKIT, {SERVICEKIT})], ids=[PACKAGE, SERVICEKIT]
)
def test_the_contract_forbids_every_service_package(source: str, exempt: set[str]) -> None:
    services = _service_packages()
    assert {"loan_api", "doc_tagger", "alert_receiver", "loadgen", SERVICEKIT} <= services
    contract = _contract(source)
    assert contract["type"] == "forbidden"
    assert set(contract["forbidden_modules"]) == services - exempt
    # A module outside root_packages would not be in the graph at all: nothing to forbid.
    assert services | {PACKAGE} <= set(_pyproject()["tool"]["importlinter"]["root_packages"])
    # Indirect imports (through a third module) count too.
    assert not contract.get("allow_indirect_imports", False)


def _tree(tmp_path: Path, leak: str | None) -> Path:
    """A copy of the package and one stub package per service, with the real contract only
    (the repository's other contracts are about the services' insides)."""
    shutil.copytree(
        PACKAGE_SOURCE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in _service_packages():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    if leak is not None:
        # An import nested in the package, as a careless helper would write it.
        (tmp_path / PACKAGE / "_leak.py").write_text(f"from {leak} import something\n")
    importlinter = _pyproject()["tool"]["importlinter"]
    contract = _contract(PACKAGE)
    lines = [
        "[tool.importlinter]",
        "root_packages = [" + ", ".join(f'"{p}"' for p in importlinter["root_packages"]) + "]",
        "",
        "[[tool.importlinter.contracts]]",
        f'name = "{contract["name"]}"',
        'type = "forbidden"',
        f'source_modules = ["{PACKAGE}"]',
        "forbidden_modules = [" + ", ".join(f'"{m}"' for m in contract["forbidden_modules"]) + "]",
    ]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return tmp_path


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copies come first on the path, before the installed package and services.
    env = os.environ | {"PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_copy_without_a_forbidden_import_keeps_the_contract(tmp_path: Path) -> None:
    result = _lint_imports(_tree(tmp_path, leak=None))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize("service", sorted(_service_packages()))
def test_a_forbidden_import_breaks_the_contract(tmp_path: Path, service: str) -> None:
    result = _lint_imports(_tree(tmp_path, leak=service))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 1 broken" in result.stdout, result.stdout
    assert f"{PACKAGE}._leak -> {service}" in result.stdout, result.stdout

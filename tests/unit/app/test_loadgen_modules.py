"""The load generator is one concern per module, layered: each imports only those below it.

cli (the console script) -> runner (the run loop) -> flow (one applicant's walk) -> control
(the traffic profile and the api's admin endpoint) -> settings (environment, token check).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAYERS = ("cli", "runner", "flow", "control", "settings")
PACKAGE = Path(__file__).resolve().parents[3] / "app" / "loadgen"


def loadgen_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("loadgen"):
            found.add(node.module.removeprefix("loadgen").lstrip("."))
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("loadgen.") for a in node.names if a.name.startswith("loadgen.")
            )
    return found


def test_the_package_holds_exactly_the_layers() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert modules == set(LAYERS)


@pytest.mark.parametrize("module", LAYERS)
def test_each_module_imports_only_the_layers_below_it(module: str) -> None:
    below = set(LAYERS[LAYERS.index(module) + 1 :])
    assert loadgen_imports(module) - below == set()


def test_the_console_script_stays_loadgen_cli_main() -> None:
    pyproject = (PACKAGE.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'loadgen = "loadgen.cli:main"' in pyproject
    from loadgen.cli import main

    assert callable(main)

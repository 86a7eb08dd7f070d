"""The test suite's layout, read from its source (``ast``, nothing imported):

- conftest modules hold fixtures, hooks and constants only; helpers live in tests/support;
- no module imports a conftest module (pytest loads them; importing one runs it twice);
- every tests/support module is imported somewhere (a helper nobody uses is dead weight);
- the package's own tests live in tests/unit/package, and import neither the services nor a
  support module the package's own test environment lacks (scripts/package-tests.sh).

Each checker takes the folder to read, so the tests below also feed it a small tree that breaks
its rule and see it complain.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

PACKAGE = "loan_desk_telemetry"
SERVICES = ("loan_api", "doc_tagger", "alert_receiver", "loadgen", "servicekit")
PACKAGE_TESTS = Path("unit", "package")
# Support modules that need nothing beyond the package, its extras and pytest, so its own test
# environment can import them.
PACKAGE_SAFE_SUPPORT = {"tests.support.tools"}

_CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def _modules(root: Path) -> Iterator[Path]:
    yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _module_name(path: Path, root: Path) -> str:
    """Dotted name of ``path`` with ``root`` the folder of the package ``tests``."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.Module, module: str) -> set[str]:
    """Every module (and ``package.name``, which may be a module) that ``tree`` imports,
    relative imports resolved against ``module``."""
    out: set[str] = set()
    package = module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            out.add(source)
            out.update(f"{source}.{alias.name}" for alias in node.names)
    return out


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "fixture"
    return isinstance(target, ast.Name) and target.id == "fixture"


def _allowed_in_conftest(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str)  # the docstring
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith("pytest_") or any(map(_is_fixture, node.decorator_list))
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(
            isinstance(t, ast.Name) and (_CONSTANT.match(t.id) or t.id == "pytest_plugins")
            for t in targets
        )
    return False


def conftest_problems(root: Path) -> list[str]:
    """Statements in conftest modules other than imports, fixtures, hooks and constants."""
    problems = []
    for path in _modules(root):
        if path.name != "conftest.py":
            continue
        for node in _parse(path).body:
            if not _allowed_in_conftest(node):
                name = getattr(node, "name", type(node).__name__)
                problems.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return problems


def conftest_imports(root: Path) -> list[str]:
    """Modules that import a conftest module."""
    problems = []
    for path in _modules(root):
        module = _module_name(path, root)
        for name in sorted(_imported(_parse(path), module)):
            if name == "conftest" or name.endswith(".conftest"):
                problems.append(f"{path.relative_to(root)} imports {name}")
    return problems


def _strings(tree: ast.Module) -> set[str]:
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def unimported_support_modules(root: Path, *others: Path) -> list[str]:
    """tests/support modules no other module (under ``root`` or ``others``) imports or runs
    (``python -m tests.support.x``: the dotted name as a string)."""
    support = {
        _module_name(path, root): path
        for path in _modules(root / "support")
        if path.name != "__init__.py"
    }
    used: set[str] = set()
    for folder in (root, *others):
        for path in _modules(folder):
            tree = _parse(path)
            imported = _imported(tree, _module_name(path, root) if folder == root else "")
            imported |= _strings(tree)
            used.update(name for name in imported if name in support and support[name] != path)
    return sorted(str(support[name].relative_to(root)) for name in support.keys() - used)


def _first_party(imported: set[str]) -> tuple[set[str], set[str], set[str]]:
    """(package modules, service modules, tests modules) among ``imported``."""
    top = {name: name.split(".")[0] for name in imported}
    return (
        {n for n, t in top.items() if t == PACKAGE},
        {n for n, t in top.items() if t in SERVICES},
        {n for n, t in top.items() if t == "tests"},
    )


def _support_modules(names: set[str]) -> set[str]:
    """The tests/support modules among imported names (``tests.support.x.Name`` -> its module)."""
    return {".".join(n.split(".")[:3]) for n in names if n.startswith("tests.support.")}


def package_test_problems(root: Path) -> list[str]:
    """Package tests outside tests/unit/package (test modules that import the package and
    nothing of the services or of the test tiers' support), and tests in tests/unit/package that
    import a service or a support module the package's test environment cannot import."""
    problems = []
    for path in _modules(root):
        relative = path.relative_to(root)
        inside = relative.parts[: len(PACKAGE_TESTS.parts)] == PACKAGE_TESTS.parts
        if not (path.name.startswith("test_") or (inside and path.name == "conftest.py")):
            continue
        package, services, tests = _first_party(_imported(_parse(path), _module_name(path, root)))
        tests.discard("tests.support")
        support = _support_modules(tests)
        unsafe = support - PACKAGE_SAFE_SUPPORT
        others = {n for n in tests if not n.startswith("tests.support.")}
        if inside and (services or unsafe or others):
            found = ", ".join(sorted(services | unsafe | others))
            problems.append(f"{relative} is a package test but imports {found}")
        elif not inside and package and not services and not unsafe and not others:
            problems.append(f"{relative} tests only the package: move it to tests/{PACKAGE_TESTS}")
    return problems


# --- the suite as it is ------------------------------------------------------------------------


def test_conftest_modules_hold_only_fixtures_hooks_and_constants() -> None:
    assert conftest_problems(TESTS) == []


def test_no_module_imports_a_conftest_module() -> None:
    assert conftest_imports(TESTS) == []


def test_every_support_module_is_imported() -> None:
    assert unimported_support_modules(TESTS, ROOT / "scripts") == []


def test_the_package_tests_live_together() -> None:
    assert package_test_problems(TESTS) == []


def test_the_checkers_read_the_real_suite() -> None:
    """Guards the four tests above against passing on an empty walk."""
    # Counted apart with os.walk: the walk the checkers use sees every file, and there are some.
    for folder, name in ((TESTS, "conftest.py"), (TESTS / "support", None)):
        walked = sorted(
            Path(where) / file
            for where, _, files in os.walk(folder)
            for file in files
            if file.endswith(".py") and (name is None or file == name)
        )
        seen = [p for p in _modules(folder) if name is None or p.name == name]
        assert seen == walked
        assert walked
    assert any(_modules(TESTS / PACKAGE_TESTS))


# --- each rule fails when broken ---------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "tests"
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


GOOD_CONFTEST = '''"""Doc."""
import pytest
from tests.support.x import helper
LIMIT = 3
_TIERS = {"unit": "unit"}
pytest_plugins: list[str] = []
def pytest_collection_modifyitems(items): ...
@pytest.fixture
def value(): return helper()
@pytest.fixture(scope="session")
async def other(): ...
'''


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("class Api: ...\n", "Api"),
        ("def api_client(): ...\n", "api_client"),
        ("@contextmanager\ndef running(): ...\n", "running"),
        ("cache = {}\n", "Assign"),
        ("if True:\n    X = 1\n", "If"),
    ],
)
def test_a_helper_in_a_conftest_is_flagged(tmp_path: Path, source: str, flagged: str) -> None:
    root = _tree(tmp_path, {"conftest.py": GOOD_CONFTEST, "tier/conftest.py": source})
    problems = conftest_problems(root)
    assert len(problems) == 1
    assert problems[0].startswith("tier/conftest.py:")
    assert problems[0].endswith(f": {flagged}")


@pytest.mark.parametrize(
    "line",
    [
        "from tests.integration.conftest import Api",
        "from .conftest import Api",
        "from . import conftest",
        "import conftest",
        "import tests.live.conftest as live",
    ],
)
def test_importing_a_conftest_is_flagged(tmp_path: Path, line: str) -> None:
    root = _tree(
        tmp_path, {"integration/test_x.py": f"{line}\n", "integration/test_ok.py": "import os\n"}
    )
    assert len(conftest_imports(root)) == 1
    assert conftest_imports(root)[0].startswith("integration/test_x.py imports ")


def test_an_unimported_support_module_is_flagged(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "support/__init__.py": "",
            "support/used.py": "from tests.support.helper import x\n",
            "support/helper.py": "x = 1\n",
            "support/alone.py": "from tests.support import used\n",  # imports, is not imported
            "support/relative.py": "",
            "support/server.py": "",
            "unit/test_a.py": "from tests.support import used\nfrom ..support.relative import y\n",
            "unit/test_b.py": 'ARGS = ["python", "-m", "tests.support.server"]\n',
            "unit/__init__.py": "",
        },
    )
    assert unimported_support_modules(root) == ["support/alone.py"]


def test_a_support_module_imported_only_by_itself_is_flagged(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"support/lonely.py": "from tests.support.lonely import x\nx = 1\n"})
    assert unimported_support_modules(root) == ["support/lonely.py"]


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        (
            "telemetry/test_pkg.py",
            "import loan_desk_telemetry\nfrom tests.support.tools import missing\n",
            "telemetry/test_pkg.py tests only the package: move it to tests/unit/package",
        ),
        (
            "unit/app/test_pkg.py",
            "from loan_desk_telemetry.testing import capture_telemetry\n",
            "unit/app/test_pkg.py tests only the package: move it to tests/unit/package",
        ),
        (
            "unit/package/test_svc.py",
            "import loan_desk_telemetry\nfrom loan_api.main import create_app\n",
            "unit/package/test_svc.py is a package test but imports loan_api.main, "
            "loan_api.main.create_app",
        ),
        (
            "unit/package/test_wire.py",
            "from tests.support.services import Service\n",
            "unit/package/test_wire.py is a package test but imports tests.support.services",
        ),
        (
            "unit/package/conftest.py",
            "from tests.telemetry import helpers\n",
            "unit/package/conftest.py is a package test but imports tests.telemetry, "
            "tests.telemetry.helpers",
        ),
    ],
)
def test_a_misplaced_package_test_is_flagged(
    tmp_path: Path, name: str, source: str, expected: str
) -> None:
    root = _tree(
        tmp_path,
        {
            name: source,
            # in place: a package test, a service test using the package, a wire test
            "unit/package/test_ok.py": "import loan_desk_telemetry\nfrom ...support import tools\n",
            "unit/app/test_ok.py": "import loan_desk_telemetry\nimport loan_api\n",
            "telemetry/test_ok.py": "import loan_desk_telemetry\nfrom tests.support import wire\n",
        },
    )
    assert package_test_problems(root) == [expected]

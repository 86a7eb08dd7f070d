"""The package's promises in its types: mypy --strict passes a service that adopts it
(adopter_service.py) and rejects each misuse in misuse.py with exactly the error marked there.

mypy runs as an adopter's would: its own strict configuration (mypy.ini here), the package found
where it is installed (its py.typed), not through this repository's mypy_path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import loan_desk_telemetry

HERE = Path(__file__).parent
ROOT = HERE.parents[3]
ADOPTER = HERE / "adopter_service.py"
MISUSE = HERE / "misuse.py"
# misuse.py: "# E: arg-type" or "# E: arg-type, assignment" at the end of a line.
MARK = re.compile(r"#\s*E:\s*(?P<codes>[a-z-]+(?:\s*,\s*[a-z-]+)*)\s*$")
ERROR = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): error: .* \[(?P<code>[a-z-]+)\]$")
MISUSES = 14


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python <args>`` from the repository root, without the caller's OTEL_*/MYPY* settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MYPY"))}
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def mypy_errors() -> Counter[tuple[str, int, str]]:
    """(file, line, code) of every error mypy reports on both files, in one run."""
    result = _run(
        *("-m", "mypy", "--config-file", _relative(HERE / "mypy.ini")),
        # Its own cache: the project's (other options) is left as it is.
        *("--cache-dir", str(ROOT / ".mypy_cache" / "typing-tests")),
        *("--no-error-summary", "--no-pretty", "--hide-error-context", "--show-error-codes"),
        *(_relative(ADOPTER), _relative(MISUSE)),
        timeout=280,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    errors: Counter[tuple[str, int, str]] = Counter()
    for line in result.stdout.splitlines():
        if ": note: " in line:
            continue
        match = ERROR.match(line)
        assert match is not None, f"not an error line mypy should print: {line!r}"
        errors[(match["path"], int(match["line"]), match["code"])] += 1
    return errors


def _marked(path: Path) -> Counter[tuple[str, int, str]]:
    marked: Counter[tuple[str, int, str]] = Counter()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = MARK.search(line)
        if match is not None:
            for code in match["codes"].split(","):
                marked[(_relative(path), number, code.strip())] += 1
    return marked


def test_the_adopter_service_passes_mypy_strict(mypy_errors: Counter[tuple[str, int, str]]) -> None:
    # Errors in misuse.py only: none in the adopter, none anywhere else.
    assert {path for path, _, _ in mypy_errors} == {_relative(MISUSE)}


def test_each_misuse_is_rejected_with_its_error(mypy_errors: Counter[tuple[str, int, str]]) -> None:
    expected = _marked(MISUSE)
    assert sum(expected.values()) == MISUSES
    reported = Counter({e: n for e, n in mypy_errors.items() if e[0] == _relative(MISUSE)})
    assert sorted(reported.elements()) == sorted(expected.elements())


def test_the_adopter_service_runs() -> None:
    # The same calls, run: the types describe code that works (in-memory pipeline, no globals).
    result = _run(_relative(ADOPTER), timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("{")]
    assert lines == [
        "[\"OTEL_TRACES_EXPORTER: use otlp, console or none (got 'bogus')\"]",
        "/orders/{order_id} {'order': 7, 'email': '[REDACTED]'}",
        "['GET /orders/{order_id}', 'SELECT :memory:', 'orders.get']",
        "['request']",
        loan_desk_telemetry.__version__,
        "root level=INFO",
    ]

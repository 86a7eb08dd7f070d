"""The README's test command (scripts/test.sh) with a stand-in `uv` that records each pytest
run and exits as told: which selections it runs, and that a failing or empty selection in
either of its two processes fails the run."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "test.sh"

# Exits with $FAKE_ALERTING_STATUS for a run selecting the alerting tier, $FAKE_REST_STATUS for
# any other pytest run, 0 for `uv sync`; appends each pytest command line to $FAKE_LOG.
FAKE_UV = """#!/usr/bin/env bash
if [ "$1" = sync ]; then exit 0; fi
echo "$*" >>"$FAKE_LOG"
echo $$ >>"$FAKE_LOG.pids"
case " $* " in
  *" -m alerting "*) echo "alerting ${TEST_PORT_RANGE:-}" >>"$FAKE_LOG.ports" ;;
  *) echo "rest ${TEST_PORT_RANGE:-}" >>"$FAKE_LOG.ports" ;;
esac
if [ -n "${FAKE_SLEEP:-}" ]; then sleep "$FAKE_SLEEP"; fi
case " $* " in
  *" -m alerting "*) exit "${FAKE_ALERTING_STATUS:-0}" ;;
  *) exit "${FAKE_REST_STATUS:-0}" ;;
esac
"""


def run(tmp_path: Path, *args: str, **statuses: int | str) -> tuple[int, list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    uv = bin_dir / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(uv.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    Path(f"{log}.pids").unlink(missing_ok=True)
    Path(f"{log}.ports").unlink(missing_ok=True)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "TMPDIR": str(tmp_path),
        **{f"FAKE_{key.upper()}_STATUS": str(value) for key, value in statuses.items()},
    }
    if "serial" in statuses:
        env["TEST_SERIAL"] = "1"
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, sorted(calls), done.stdout + done.stderr


def test_without_arguments_it_runs_the_alerting_tier_beside_the_rest(tmp_path: Path) -> None:
    status, calls, _ = run(tmp_path)
    assert status == 0
    assert len(calls) == 2
    alerting = [call for call in calls if call.startswith("run --locked pytest -m alerting ")]
    assert len(alerting) == 1
    assert "--basetemp" in alerting[0]
    assert "run --locked pytest -m not live and not alerting" in calls
    # Nothing of the alerting run's temporary folder or log is left behind.
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "bin",
        "calls.log",
        "calls.log.pids",
        "calls.log.ports",
    ]


def test_the_two_processes_get_ports_of_their_own(tmp_path: Path) -> None:
    """Disjoint blocks below Linux's ephemeral range: neither process can pick a port the other
    picked, nor one the kernel hands out for an outgoing connection."""
    status, _, _ = run(tmp_path)
    assert status == 0
    ranges: dict[str, range] = {}
    for line in (tmp_path / "calls.log.ports").read_text().splitlines():
        name, _, value = line.partition(" ")
        low, _, high = value.partition("-")
        ranges[name] = range(int(low), int(high) + 1)
    assert sorted(ranges) == ["alerting", "rest"]
    assert not set(ranges["alerting"]) & set(ranges["rest"])
    for block in ranges.values():
        assert block.start >= 1024
        assert block.stop <= 32768
        assert len(block) >= 5000


def test_a_failed_alerting_tier_keeps_its_files_and_says_where(tmp_path: Path) -> None:
    status, _, output = run(tmp_path, alerting=1)
    assert status == 1
    kept = [path for path in tmp_path.iterdir() if path.is_dir() and path.name != "bin"]
    assert len(kept) == 1
    assert kept[0].name.startswith("alerting-tier.")
    assert f"the alerting tier's files are kept in {kept[0]}/pytest" in output


def test_an_interrupt_stops_both_runs(tmp_path: Path) -> None:
    run(tmp_path)  # writes the stand-in uv
    log = tmp_path / "calls.log"
    log.unlink()
    pids = Path(f"{log}.pids")
    pids.unlink()
    env = {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_SLEEP": "60",
        "TMPDIR": str(tmp_path),
    }
    script = subprocess.Popen(["bash", str(SCRIPT)], env=env, stderr=subprocess.PIPE, text=True)
    # Both runs started and the script's trap set (the script sets it before starting them;
    # checking it too keeps this test from signalling a script that would die without it).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        len(_read(pids)) < 2 or not _catches(script.pid, signal.SIGTERM)
    ):
        time.sleep(0.1)
    assert len(_read(pids)) == 2
    assert _catches(script.pid, signal.SIGTERM)
    script.send_signal(signal.SIGTERM)
    _, err = script.communicate(timeout=20)
    assert script.returncode == 130
    assert "interrupted: both pytest runs stopped" in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in _read(pids)):
        time.sleep(0.1)
    assert [pid for pid in _read(pids) if _alive(pid)] == []


def _catches(pid: int, signum: int) -> bool:
    """Whether ``pid`` has a handler for ``signum``: the SigCgt mask of /proc/<pid>/status
    (Linux, proc(5)), bit ``signum - 1``."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _read(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({"alerting": 1}, 1),
        ({"rest": 1}, 1),
        ({"alerting": 5}, 1),
        ({"rest": 5}, 1),
        ({"alerting": 2, "rest": 0}, 1),
    ],
    ids=["alerting-fails", "rest-fails", "alerting-empty", "rest-empty", "alerting-interrupted"],
)
def test_either_process_failing_or_empty_fails_the_run(
    tmp_path: Path, statuses: dict[str, int], expected: int
) -> None:
    status, calls, output = run(tmp_path, **statuses)
    assert status == expected
    assert len(calls) == 2
    assert "test run failed" in output


def test_an_empty_selection_is_named(tmp_path: Path) -> None:
    _, _, output = run(tmp_path, alerting=5)
    assert "pytest collected no tests for -m alerting" in output


def test_arguments_run_one_process_with_them(tmp_path: Path) -> None:
    status, calls, _ = run(tmp_path, "-m", "unit")
    assert (status, calls) == (0, ["run --locked pytest -m unit"])


@pytest.mark.parametrize(("rest", "expected"), [(0, 0), (1, 1), (3, 3), (5, 1)])
def test_one_process_keeps_pytest_status_but_for_an_empty_selection(
    tmp_path: Path, rest: int, expected: int
) -> None:
    status, calls, _ = run(tmp_path, "tests/unit", rest=rest)
    assert (status, calls) == (expected, ["run --locked pytest tests/unit"])


def test_serial_runs_the_default_selection_in_one_process(tmp_path: Path) -> None:
    status, calls, _ = run(tmp_path, serial=1)
    assert (status, calls) == (0, ["run --locked pytest"])

"""Finding the outside programs and servers that a test tier needs.

Locally a missing backend skips its tests with the reason; under CI (``CI=true``) it fails them,
because CI installs every backend its tier needs and a skip there would hide a broken install.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import threading
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


# Ports for the servers a test starts. A port found by binding port 0 comes from the kernel's
# ephemeral range: once released it can be handed to another bind(0) in the other pytest
# process that scripts/test.sh runs beside this one, or to the local end of an outgoing
# connection (Prometheus scraping), before the server that was meant to get it listens. So the
# ports come from below the ephemeral range, from a block of this process's own
# (TEST_PORT_RANGE, "low-high", set per process by scripts/test.sh), each handed out once.
PORT_RANGE_VARIABLE = "TEST_PORT_RANGE"
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_port_lock = threading.Lock()
_ports_given: set[int] = set()


def port_range() -> range:
    """The ports this process hands out: TEST_PORT_RANGE, else 10000 up to the ephemeral range."""
    value = os.environ.get(PORT_RANGE_VARIABLE, "").strip()
    if value:
        low_text, _, high_text = value.partition("-")
        try:
            low, high = int(low_text), int(high_text)
        except ValueError:
            raise ValueError(f"{PORT_RANGE_VARIABLE}={value!r}: expected low-high") from None
        if not 1024 <= low <= high <= 65535:
            raise ValueError(f"{PORT_RANGE_VARIABLE}={value!r}: expected 1024 <= low <= high")
        return range(low, high + 1)
    try:
        ephemeral_low = int(_EPHEMERAL_RANGE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768  # Linux's default
    return range(10000, max(ephemeral_low, 10001))


def free_port() -> int:
    """A loopback port that nothing listens on, not handed out before in this process
    (threads start stacks at the same time), from this process's block (see port_range)."""
    ports = port_range()
    with _port_lock:
        start = random.randrange(len(ports))
        for offset in range(len(ports)):
            port = ports[(start + offset) % len(ports)]
            if port in _ports_given:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _ports_given.add(port)
            return port
    raise RuntimeError(f"no free port left in {ports.start}-{ports.stop - 1}")

"""tests/support/tools.py: free_port hands out ports from this process's block only, each once,
skipping ports something listens on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support import tools
from tests.support.tools import PORT_RANGE_VARIABLE, free_port, port_range

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def fresh_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no port handed out."""
    monkeypatch.setattr(tools, "_ports_given", set())


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def idle_block(size: int) -> str:
    """``size`` consecutive ports that are free now, from this process's own block: a fixed
    block would lie in the other pytest process's (scripts/test.sh), whose servers, or their
    connections in TIME_WAIT, could hold one of its ports at any moment."""
    ports = port_range()
    for low in range(ports.start, ports.stop - size + 1, size):
        if all(_bindable(port) for port in range(low, low + size)):
            return f"{low}-{low + size - 1}"
    pytest.fail(f"no {size} free consecutive ports in {ports.start}-{ports.stop - 1}")


def test_ports_come_from_the_block_each_once(monkeypatch: pytest.MonkeyPatch) -> None:
    block = idle_block(20)
    monkeypatch.setenv(PORT_RANGE_VARIABLE, block)
    low = int(block.split("-")[0])
    ports = [free_port() for _ in range(20)]
    assert sorted(ports) == list(range(low, low + 20))


def test_a_port_something_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv(PORT_RANGE_VARIABLE, f"{port}-{port + 1}")
        if port + 1 > 65535:
            pytest.skip("the listening port is the last one")
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                pytest.skip("the neighbouring port is taken by something else")
        assert free_port() == port + 1


def test_an_exhausted_block_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    block = idle_block(2)
    monkeypatch.setenv(PORT_RANGE_VARIABLE, block)
    free_port(), free_port()
    with pytest.raises(RuntimeError, match=f"no free port left in {block}"):
        free_port()


@pytest.mark.parametrize("value", ["20000", "a-b", "30000-20000", "80-90", "20000-70000"])
def test_a_wrong_block_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PORT_RANGE_VARIABLE, value)
    with pytest.raises(ValueError, match=PORT_RANGE_VARIABLE):
        port_range()


def test_without_a_block_ports_stay_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PORT_RANGE_VARIABLE, raising=False)
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
    ephemeral_low = int(ephemeral.split()[0])
    block = port_range()
    assert block.start == 10000
    assert block.stop == ephemeral_low
    assert all(block.start <= free_port() < ephemeral_low for _ in range(50))

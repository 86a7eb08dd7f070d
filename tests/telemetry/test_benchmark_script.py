"""The overhead benchmark (scripts/bench_telemetry.py) still runs, end to end, in a short mode.

No figure is asserted (speed is for the benchmark to print, not for a test to time): only that
every variant served both endpoints with the expected statuses (the script fails otherwise), that
the variants that should export telemetry did and the bare one did not, and that the verdict line
is printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import missing

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("bare", "instrumented", "sdk-floor")


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_benchmark_runs_every_variant_and_only_the_instrumented_ones_export(database: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_"))}
    extra: list[str] = []
    if database == "postgres":
        url = os.environ.get("TEST_POSTGRES_URL")
        if not url:
            missing("TEST_POSTGRES_URL is not set: no PostgreSQL server for the benchmark")
        extra = ["--postgres-url", url]
    result = subprocess.run(
        [
            sys.executable,
            "scripts/bench_telemetry.py",
            "--seconds",
            "0.3",
            "--rounds",
            "1",
            "--variants",
            ",".join(VARIANTS),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    exported = {
        m["variant"]: int(m["kib"])
        for m in re.finditer(r"round 1 (?P<variant>\S+) .* OTLP received (?P<kib>\d+) KiB", out)
    }
    assert set(exported) == set(VARIANTS)
    assert exported["bare"] == 0
    assert exported["instrumented"] > 0
    assert exported["sdk-floor"] > 0

    rows = re.findall(r"^(read|no-token)\s+(\S+)\s+\d+\s", out, flags=re.MULTILINE)
    assert sorted(rows) == sorted((e, v) for e in ("read", "no-token") for v in VARIANTS)
    assert re.search(r"^target: instrumented throughput >= 85% of bare on read: \d+%", out, re.M)
    if database == "postgres":
        # The benchmark made its own database and dropped it again.
        made = re.search(r"^database: PostgreSQL \(asyncpg\), (loan_bench_\d+),", out, re.M)
        assert made is not None, out
        assert made[1] not in _databases(url).split()
    else:
        assert "database: SQLite file" in out


def _databases(url: str) -> str:
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def names() -> str:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT datname FROM pg_database"))
            found = " ".join(str(row[0]) for row in rows)
        await engine.dispose()
        return found

    return asyncio.run(names())

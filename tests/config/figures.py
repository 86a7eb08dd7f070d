"""The figures docs/stack.md states for the whole stack (retention, memory) and the checkers that
hold compose.yaml and the component configs to them.

Each checker returns a list of problems (empty when all is well), so a test can feed it the real
files and, to prove it can fail, a deliberately broken copy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

Problems = list[str]
MIB = 1024 * 1024

# --- durations ------------------------------------------------------------------------------

# prometheus/common model.ParseDuration (Prometheus flags and Loki's model.Duration limits):
# units y, w, d, h, m, s, ms, each at most once and in this order; "0" alone is zero.
_PROM_UNITS = (
    ("y", timedelta(days=365)),
    ("w", timedelta(weeks=1)),
    ("d", timedelta(days=1)),
    ("h", timedelta(hours=1)),
    ("m", timedelta(minutes=1)),
    ("s", timedelta(seconds=1)),
    ("ms", timedelta(milliseconds=1)),
)
_PROM_DURATION = re.compile("".join(rf"(?:(?P<{unit}>\d+){unit})?" for unit, _ in _PROM_UNITS))

# Go's time.ParseDuration (Tempo's time.Duration fields): decimal numbers with units ns, us, µs,
# ms, s, m, h; no days.
_GO_UNITS = {
    "ns": timedelta(microseconds=0.001),
    "us": timedelta(microseconds=1),
    "µs": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def prometheus_duration(text: str) -> timedelta:
    text = str(text).strip()
    if text == "0":
        return timedelta(0)
    match = _PROM_DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    total = timedelta(0)
    for unit, size in _PROM_UNITS:
        if match[unit]:
            total += int(match[unit]) * size
    return total


def go_duration(text: str) -> timedelta:
    text = str(text).strip()
    if text == "0":
        return timedelta(0)
    position, total = 0, timedelta(0)
    while position < len(text):
        part = _GO_PART.match(text, position)
        if part is None:
            raise ValueError(f"not a Go duration: {text!r}")
        total += float(part[1]) * _GO_UNITS[part[2]]
        position = part.end()
    if position == 0:
        raise ValueError(f"not a Go duration: {text!r}")
    return total


# --- retention ------------------------------------------------------------------------------

_RETENTION = re.compile(r"Every backend keeps \*\*(\d+) days\*\*")


def stated_retention_days(stack_doc: str) -> int:
    """The one retention figure of docs/stack.md ("Retention")."""
    found = _RETENTION.findall(stack_doc)
    if len(found) != 1:
        raise ValueError(f"docs/stack.md states the retention {len(found)} times, not once")
    return int(found[0])


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _compare(where: str, raw: Any, parse: Any, want: timedelta) -> Problems:
    if raw is None:
        return [f"{where} is not set"]
    try:
        got = parse(str(raw))
    except ValueError as error:
        return [f"{where}: {error}"]
    if got != want:
        return [f"{where} is {raw} ({got}), the stated retention is {want}"]
    return []


def retention_problems(
    days: int,
    compose: Mapping[str, Any],
    loki: Mapping[str, Any],
    tempo: Mapping[str, Any],
) -> Problems:
    """Prometheus, Loki and Tempo each keep exactly `days` days, where each reads its setting."""
    want = timedelta(days=days)
    problems: Problems = []

    # Prometheus v3.14 cmd/prometheus/main.go: serverOnlyFlag "storage.tsdb.retention.time"
    # (prometheus/common model duration). A size limit could cut the data short of the figure.
    command = [str(arg) for arg in compose["services"]["prometheus"].get("command") or []]
    flag = "--storage.tsdb.retention.time="
    values = [arg.removeprefix(flag) for arg in command if arg.startswith(flag)]
    if len(values) != 1:
        problems.append(f"prometheus: {len(values)} {flag} flags, want exactly one")
    else:
        problems += _compare(f"prometheus {flag}", values[0], prometheus_duration, want)
    for arg in command:
        if arg.startswith(("--storage.tsdb.retention.size", "--storage.tsdb.retention=")):
            problems.append(f"prometheus: {arg} limits retention besides the stated figure")

    # Loki v3.7 pkg/validation/limits.go: limits_config.retention_period (model.Duration), applied
    # only by the compactor with retention_enabled, which needs a delete_request_store
    # (pkg/compactor/config.go and compactor.go init: "delete store client not initialised
    # when retention is enabled").
    problems += _compare(
        "loki limits_config.retention_period",
        _dig(loki, "limits_config", "retention_period"),
        prometheus_duration,
        want,
    )
    if _dig(loki, "compactor", "retention_enabled") is not True:
        problems.append("loki compactor.retention_enabled is not true: nothing is ever deleted")
    if not _dig(loki, "compactor", "delete_request_store"):
        problems.append("loki compactor.delete_request_store is not set (retention needs it)")

    # Tempo v3.0.3: the backend worker runs retention with its own compaction config
    # (modules/backendworker processRetentionJob -> RetainTenantWithConfig(&w.cfg.Compactor);
    # tempodb/retention.go retainTenant: compactorCfg.BlockRetention, a time.Duration). A
    # per-tenant override (overrides.defaults.compaction.block_retention) wins when non-zero.
    problems += _compare(
        "tempo backend_worker.compaction.block_retention",
        _dig(tempo, "backend_worker", "compaction", "block_retention"),
        go_duration,
        want,
    )
    for path in (
        ("backend_scheduler", "provider", "compaction", "compaction", "block_retention"),
        ("overrides", "defaults", "compaction", "block_retention"),
    ):
        value = _dig(tempo, *path)
        if value is not None:
            problems += _compare("tempo " + ".".join(path), value, go_duration, want)
    return problems


# --- memory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryRow:
    service: str
    measured_mb: int | None  # None: not measured
    limit: str
    source: str

    @property
    def store(self) -> bool:
        """A store (database, TSDB, log or trace store): its memory grows with what it holds."""
        return self.source.startswith("store rule")


def compose_bytes(value: Any) -> int:
    """A compose byte value (mem_limit): an integer of bytes or `{amount}{b|k|m|g}[b]`, binary
    units (compose-spec, "Specifying byte values")."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+)\s*([bkmg])?b?", str(value).strip().lower())
    if match is None:
        raise ValueError(f"not a compose byte value: {value!r}")
    power = " kmg".index(match[2] or " ") if match[2] != "b" else 0
    return int(match[1]) * 1024**power


def go_bytes(value: Any) -> int:
    """GOMEMLIMIT: an integer with an optional unit B, KiB, MiB, GiB, TiB (Go runtime package
    documentation, "GOMEMLIMIT")."""
    match = re.fullmatch(r"(\d+)(B|KiB|MiB|GiB|TiB)?", str(value).strip())
    if match is None:
        raise ValueError(f"not a GOMEMLIMIT value: {value!r}")
    unit = match[2] or "B"
    return int(match[1]) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB"].index(unit)


def memory_rule_mib(measured_mb: int, *, store: bool = False) -> int:
    """The stated rule: max(2 x RSS, RSS + 128 MiB), rounded up to a multiple of 64 MiB; for a
    store, whose memory grows with the data it holds, max(3 x RSS, RSS + 256 MiB). The measured
    MB are taken as MiB, which rounds towards more headroom."""
    factor, extra = (3, 256) if store else (2, 128)
    return math.ceil(max(factor * measured_mb, measured_mb + extra) / 64) * 64


def _section(text: str, heading: str) -> str:
    parts = text.split(f"\n{heading}\n", 1)
    if len(parts) != 2:
        raise ValueError(f"no section {heading!r}")
    return parts[1].split("\n## ", 1)[0]


def memory_table(stack_doc: str) -> list[MemoryRow]:
    """The measured table of docs/stack.md ("Memory")."""
    rows = []
    for line in _section(stack_doc, "## Memory").splitlines():
        if not line.startswith("| ") or line.startswith(("| service", "|---")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        service, measured, limit, source = cells[0], cells[1], cells[2], cells[3]
        rows.append(
            MemoryRow(
                service=service.strip("`"),
                measured_mb=None if measured == "not measured" else int(measured),
                limit=limit.strip("`"),
                source=source,
            )
        )
    return rows


def mem_limit(service: Mapping[str, Any]) -> int:
    return compose_bytes(service["mem_limit"])


def memory_problems(rows: list[MemoryRow], compose: Mapping[str, Any]) -> Problems:
    """Every compose service has one row; its mem_limit is the row's, and a measured row's limit
    follows the rule; an unmeasured one names where its limit comes from."""
    problems: Problems = []
    services = compose["services"]
    names = [row.service for row in rows]
    for name in sorted(set(services) - set(names)):
        problems.append(f"{name}: in compose.yaml but not in the memory table")
    for name in sorted(set(names) - set(services)):
        problems.append(f"{name}: in the memory table but not in compose.yaml")
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name}: more than one row in the memory table")
    for row in rows:
        if row.service not in services:
            continue
        stated = compose_bytes(row.limit)
        actual = services[row.service].get("mem_limit")
        if actual is None or compose_bytes(actual) != stated:
            problems.append(
                f"{row.service}: mem_limit {actual} in compose.yaml, {row.limit} stated"
            )
        if row.measured_mb is None:
            if not row.source or row.source == "rule":
                problems.append(f"{row.service}: not measured, and no source for its limit")
        elif row.source not in ("rule", "store rule") and not row.source.startswith(
            ("rule ", "store rule ")
        ):
            problems.append(f"{row.service}: measured, but says neither rule nor store rule")
        elif stated != memory_rule_mib(row.measured_mb, store=row.store) * MIB:
            rule = memory_rule_mib(row.measured_mb, store=row.store)
            problems.append(
                f"{row.service}: limit {row.limit} for {row.measured_mb} MB; rule: {rule}m"
            )
    return problems


_LIMIT_SUM = re.compile(r"limits\s+add\s+up\s+to\s+([\d,]+)\s+MiB")
_MEASURED_SUM = re.compile(r"[Mm]easured\s+use\b[^.]*?\b([\d,]+)\s+MB\b")


def stated_sums(text: str) -> tuple[list[int], list[int]]:
    """(every "limits add up to N MiB", every "measured use ... N MB") in a document."""

    def numbers(pattern: re.Pattern[str]) -> list[int]:
        return [int(found.replace(",", "")) for found in pattern.findall(text)]

    return numbers(_LIMIT_SUM), numbers(_MEASURED_SUM)


def sum_problems(
    where: str, text: str, rows: list[MemoryRow], compose: Mapping[str, Any]
) -> Problems:
    """`where` states both sums, and each equals what compose.yaml and the table add up to."""
    limits_mib = sum(mem_limit(s) for s in compose["services"].values()) // MIB
    measured_mb = sum(row.measured_mb or 0 for row in rows)
    stated_limits, stated_measured = stated_sums(text)
    problems: Problems = []
    if not stated_limits:
        problems.append(f"{where}: states no sum of the memory limits")
    if not stated_measured:
        problems.append(f"{where}: states no sum of the measured use")
    problems += [
        f"{where}: limits add up to {limits_mib} MiB, not {n}"
        for n in stated_limits
        if n != limits_mib
    ]
    problems += [
        f"{where}: measured use adds up to {measured_mb} MB, not {n}"
        for n in stated_measured
        if n != measured_mb
    ]
    return problems


_STACK_LIMIT_SUM = re.compile(
    r"[Ww]ithout\s+the\s+app,\s+the\s+stack's\s+limits\s+total\s+([\d,]+)\s+MiB"
)


def stack_sum_problems(where: str, text: str, stack: Mapping[str, Any]) -> Problems:
    """`where` states the limits of the stack alone (compose.observability.yaml), and the figure
    is what that file adds up to."""
    limits_mib = sum(mem_limit(s) for s in stack["services"].values()) // MIB
    stated = [int(n.replace(",", "")) for n in _STACK_LIMIT_SUM.findall(text)]
    if not stated:
        return [f"{where}: states no sum of the stack's limits without the app"]
    return [
        f"{where}: without the app the limits add up to {limits_mib} MiB, not {n}"
        for n in stated
        if n != limits_mib
    ]


def gomemlimit_problems(compose: Mapping[str, Any], collector: Mapping[str, Any]) -> Problems:
    """GOMEMLIMIT is 75-90 % of the service's mem_limit; the collector's memory_limiter refuses
    data below GOMEMLIMIT (limit_mib < GOMEMLIMIT < mem_limit, spike_limit_mib < limit_mib)."""
    problems: Problems = []
    for name, service in compose["services"].items():
        raw = (service.get("environment") or {}).get("GOMEMLIMIT")
        if raw is None:
            continue
        soft, hard = go_bytes(raw), mem_limit(service)
        if not 0.75 * hard <= soft < 0.9 * hard:
            problems.append(f"{name}: GOMEMLIMIT {raw} is not 75-90 % of mem_limit {hard // MIB}m")
    service = compose["services"].get("otel-collector") or {}
    raw = (service.get("environment") or {}).get("GOMEMLIMIT")
    limiter = _dig(collector, "processors", "memory_limiter") or {}
    limit_mib, spike_mib = limiter.get("limit_mib"), limiter.get("spike_limit_mib")
    if raw is None or limit_mib is None:
        problems.append("otel-collector: GOMEMLIMIT or memory_limiter limit_mib is not set")
    elif not limit_mib * MIB < go_bytes(raw) < mem_limit(service):
        problems.append(
            f"otel-collector: want limit_mib ({limit_mib}) < GOMEMLIMIT ({raw}) < mem_limit"
        )
    if limit_mib is not None and spike_mib is not None and not 0 < spike_mib < limit_mib:
        problems.append(f"otel-collector: spike_limit_mib {spike_mib} not below limit_mib")
    return problems


# --- versions -------------------------------------------------------------------------------


def versions_table(stack_doc: str) -> dict[str, str]:
    """image -> tag, from the table of docs/stack.md ("Versions")."""
    table = {}
    for line in _section(stack_doc, "## Versions").splitlines():
        if not line.startswith("| ") or line.startswith(("| component", "|---")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        image = cells[1].split("(")[0].strip().strip("`")
        table[image] = cells[2].strip("`")
    return table


def pinned_images(env: Mapping[str, str], dockerfile: str) -> dict[str, str]:
    """image -> tag of every X_IMAGE/X_TAG pair in .env and the Dockerfile's PYTHON_IMAGE."""
    pins = {
        value: env[key.removesuffix("_IMAGE") + "_TAG"]
        for key, value in env.items()
        if key.endswith("_IMAGE") and key.removesuffix("_IMAGE") + "_TAG" in env
    }
    match = re.search(r"^ARG PYTHON_IMAGE=([^:\s]+):(\S+)$", dockerfile, re.MULTILINE)
    if match:
        pins[match[1]] = match[2]
    return pins

"""The stack alone shows nothing as down: every target Prometheus has is up, and the sample app's
jobs (api, tagger) have no targets at all. Run by scripts/stack-test.sh when STACK_LAYER=stack.

Reads Prometheus' ``GET /api/v1/targets`` (``data.activeTargets[]``: ``labels.job``, ``health``
up/down/unknown, ``lastError``) on the published port; waits until each target has been scraped
once (health no longer ``unknown``). Exit code 1 with one line per problem.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any

PROMETHEUS = "http://127.0.0.1:9090"
APP_JOBS = {"api", "tagger"}
TIMEOUT_SECONDS = 120.0


def active_targets() -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{PROMETHEUS}/api/v1/targets", timeout=10) as response:
        targets: list[dict[str, Any]] = json.load(response)["data"]["activeTargets"]
    return targets


def problems(targets: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for target in targets:
        job = target["labels"]["job"]
        if job in APP_JOBS:
            found.append(f"{job}: a target without the app ({target['scrapeUrl']})")
        elif target["health"] != "up":
            found.append(f"{job}: {target['health']} ({target.get('lastError') or 'no error'})")
    if not targets:
        found.append("Prometheus has no targets at all")
    return found


def main() -> int:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    targets = active_targets()
    while any(t["health"] == "unknown" for t in targets) and time.monotonic() < deadline:
        time.sleep(3)
        targets = active_targets()
    found = problems(targets)
    for line in found:
        print(f"stack alone: {line}", file=sys.stderr)
    if not found:
        jobs = sorted({t["labels"]["job"] for t in targets})
        print(f"stack alone: {len(targets)} targets up ({', '.join(jobs)}); none for the app")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

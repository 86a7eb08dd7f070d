"""Regenerate loki-keys.txt and tempo-keys.txt from full config dumps.

The dumps are the effective configuration that a real Loki and a real Tempo printed at start-up
(every key they accept, with its default). This turns each into a sorted list of key paths, the
small vendored form that tests/config/test_stack_consistency.py checks our configs against:

    a.b.c        a key
    a.b[].c      a key inside the items of list a.b
    a.b{*}       a map with free-form keys (printed as {} in the dump)

Usage (from the repository root, with the project's shared/ folder beside it):

    uv run python tests/config/data/make_key_lists.py \
        ../shared/reference/config-keys/loki-3.8-dev-all-keys.yaml \
        ../shared/reference/config-keys/tempo-3.1-dev-all-keys.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent

HEADERS = {
    "loki": (
        "# Every config key path a real Loki accepts, flattened from the effective-config\n"
        "# dump of Loki main-65e30f8 (built shortly after 3.7.6; its changelog heads 3.8.0),\n"
        "# started with a minimal single-binary config. Source: shared/reference/config-keys/"
        "loki-3.8-dev-all-keys.yaml.\n"
        "# Regenerate with tests/config/data/make_key_lists.py. Keys tagged omitempty that were\n"
        "# false/empty are absent from the dump; those few are listed in the test with a source.\n"
    ),
    "tempo": (
        "# Every config key path a real Tempo accepts, flattened from the effective-config\n"
        "# dump of Tempo main (built shortly after 3.0.3), started with a minimal monolithic\n"
        "# config.\n"
        "# Source: shared/reference/config-keys/tempo-3.1-dev-all-keys.yaml.\n"
        "# Regenerate with tests/config/data/make_key_lists.py. Keys tagged omitempty that were\n"
        "# false/empty are absent from the dump; those few are listed in the test with a source.\n"
    ),
}


def key_paths(node: Any, prefix: str = "") -> set[str]:
    """Flatten a parsed config into key paths (see the module docstring for the notation)."""
    paths: set[str] = set()
    if isinstance(node, dict):
        if not node and prefix:
            paths.add(prefix + "{*}")
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= key_paths(value, path)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                paths |= key_paths(item, prefix + "[]")
    return paths


def load_dump(path: Path) -> Any:
    # The Loki dump ends with the log line of `-verify-config`; only YAML lines are kept.
    lines = [line for line in path.read_text().splitlines() if not line.startswith("level=")]
    return yaml.safe_load("\n".join(lines))


def main(argv: list[str]) -> None:
    for dump in map(Path, argv):
        name = "loki" if "loki" in dump.name else "tempo"
        paths = sorted(key_paths(load_dump(dump)))
        out = HERE / f"{name}-keys.txt"
        out.write_text(HEADERS[name] + "\n".join(paths) + "\n")
        print(f"{out}: {len(paths)} key paths")


if __name__ == "__main__":
    main(sys.argv[1:])

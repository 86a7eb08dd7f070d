"""The logger tree: every logger with its level, handlers and propagate flag.

``python -m loan_desk_telemetry.loggers`` prints it for a fresh interpreter (optionally after
importing modules named on the command line, e.g.
``python -m loan_desk_telemetry.loggers loan_api.main``), which is how to find the library that
installs its own handler and prints lines twice.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import IO


def _handler(handler: logging.Handler) -> str:
    level = logging.getLevelName(handler.level)
    formatter = type(handler.formatter).__name__ if handler.formatter else "-"
    return f"{type(handler).__name__} level={level} formatter={formatter}"


def logger_tree() -> list[str]:
    """Lines describing the root logger and every named logger, sorted by name."""
    root = logging.getLogger()
    lines = [f"root level={logging.getLevelName(root.level)}"]
    lines += [f"    handler {_handler(h)}" for h in root.handlers]
    manager = logging.Logger.manager
    for name in sorted(manager.loggerDict):
        logger = manager.loggerDict[name]
        if isinstance(logger, logging.PlaceHolder):
            lines.append(f"+ {name} (placeholder)")
            continue
        effective = logging.getLevelName(logger.getEffectiveLevel())
        lines.append(
            f"+ {name} level={logging.getLevelName(logger.level)} effective={effective} "
            f"propagate={logger.propagate}{' disabled' if logger.disabled else ''}"
        )
        lines += [f"    handler {_handler(h)}" for h in logger.handlers]
    return lines


def print_logger_tree(stream: IO[str] | None = None) -> None:
    """Print :func:`logger_tree` (to stdout by default)."""
    out = stream if stream is not None else sys.stdout
    for line in logger_tree():
        print(line, file=out)


def main(argv: list[str] | None = None) -> int:
    for module in argv if argv is not None else sys.argv[1:]:
        importlib.import_module(module)
    print_logger_tree()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``doc-tagger``: serve the tagger, print the logger tree, or drive trainer mode.

doc-tagger serve --port 8001 [--workers N]
doc-tagger loggers                          # every logger with its level, handlers, propagation
doc-tagger trainer list|on|off|reset ...    # trainer scenarios on the tagger (docs/tour.md)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from doc_tagger.config import get_settings
from servicekit.cli import ServiceCli

CLI = ServiceCli(
    prog="doc-tagger",
    description="Serve the document tagger.",
    service_name="doc-tagger",
    factory="doc_tagger.main:create_app",
    default_port=8001,
    settings=get_settings,
)


def main(argv: Sequence[str] | None = None) -> int:
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())

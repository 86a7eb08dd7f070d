"""``alert-receiver``: serve the receiver, print the logger tree, or drive trainer mode.

alert-receiver serve --port 8003
alert-receiver loggers
alert-receiver trainer on errors --rate 1 --status 500   # Alertmanager retries (docs/alerting.md)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from alert_receiver.config import get_settings
from servicekit.cli import ServiceCli

CLI = ServiceCli(
    prog="alert-receiver",
    description="Serve the Alertmanager webhook receiver.",
    service_name="alert-receiver",
    factory="alert_receiver.main:create_app",
    default_port=8003,
    settings=get_settings,
)


def main(argv: Sequence[str] | None = None) -> int:
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())

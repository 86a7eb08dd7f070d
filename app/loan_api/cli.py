"""``loan-api``: serve the api, apply migrations, print the logger tree, or drive trainer mode.

loan-api migrate                 # alembic upgrade head (the compose `migrate` step)
loan-api migrate --revision X    # or any Alembic revision; `downgrade X` goes back
loan-api serve --port 8000 [--workers N]
loan-api loggers                 # every logger with its level, handlers and propagation
loan-api trainer list|on|off|reset|traffic ...   # trainer scenarios (docs/tour.md)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loan_api.config import get_settings
from servicekit.cli import ServiceCli


def _add_migrations(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser("migrate", help="apply migrations (default: up to head)")
    migrate.add_argument("--revision", default="head")
    downgrade = commands.add_parser("downgrade", help="revert migrations down to a revision")
    downgrade.add_argument("revision")


def _run_migrations(args: argparse.Namespace) -> bool:
    from loan_api import migrate as migrations

    if args.command == "migrate":
        migrations.upgrade(get_settings().database_dsn(), args.revision)
    elif args.command == "downgrade":
        migrations.downgrade(get_settings().database_dsn(), args.revision)
    else:
        return False
    return True


CLI = ServiceCli(
    prog="loan-api",
    description="Serve the loan-application api and manage its database.",
    service_name="loan-api",
    factory="loan_api.main:create_app",
    default_port=8000,
    settings=get_settings,
    add_extra=_add_migrations,
    run_extra=_run_migrations,
)


def main(argv: Sequence[str] | None = None) -> int:
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())

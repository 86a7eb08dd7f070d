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
from servicekit.cli import CommandFailed, ServiceCli


def _add_migrations(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="apply migrations (default: up to head)",
        description="Apply Alembic migrations to DATABASE_URL and say what was done.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    migrate.add_argument("--revision", default="head", help="Alembic revision to upgrade to")
    downgrade = commands.add_parser(
        "downgrade",
        help="revert migrations down to a revision",
        description="Revert Alembic migrations on DATABASE_URL down to a revision.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    downgrade.add_argument("revision", help="Alembic revision to go back to (e.g. 0002)")


def _revision(revision: str | None, heads: tuple[str, ...]) -> str:
    if revision is None:
        return "an empty database"
    return f"{revision} (head)" if revision in heads else revision


def _run_migrations(args: argparse.Namespace) -> bool:
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from loan_api import migrate as migrations
    from loan_desk_telemetry import exception_message

    if args.command not in ("migrate", "downgrade"):
        return False
    dsn = get_settings().database_dsn()
    try:
        if args.command == "migrate":
            done = migrations.upgrade(dsn, args.revision)
        else:
            done = migrations.downgrade(dsn, args.revision)
    except (SQLAlchemyError, OSError) as exc:
        # An unreachable or refusing database: one line (redacted, first line of the message).
        first_line = exception_message(exc).splitlines()[0] if str(exc) else ""
        raise CommandFailed(
            f"the database cannot be migrated: {type(exc).__name__}: {first_line}"
        ) from None
    heads = migrations.current_heads()
    where = make_url(dsn).render_as_string(hide_password=True)
    if done.before == done.after:
        outcome = f"already at {_revision(done.after, heads)}, nothing to do"
    else:
        verb = "upgraded" if args.command == "migrate" else "downgraded"
        outcome = f"{verb} from {_revision(done.before, heads)} to {_revision(done.after, heads)}"
    print(f"loan-api {args.command}: {where}: {outcome}")
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

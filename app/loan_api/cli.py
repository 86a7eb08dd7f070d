"""``loan-api``: serve the api, apply migrations, or print the logger tree.

loan-api migrate                 # alembic upgrade head (the compose `migrate` step)
loan-api migrate --revision -1   # or any Alembic revision; `downgrade` goes back
loan-api serve --port 8000 [--workers N]
loan-api loggers                 # every logger with its level, handlers and propagation
loan-api trainer list|on|off|reset|traffic ...   # trainer scenarios (docs/tour.md)
"""

from __future__ import annotations

import argparse
import sys

from loan_api.config import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loan-api", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the api with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)

    migrate = commands.add_parser("migrate", help="apply migrations (default: up to head)")
    migrate.add_argument("--revision", default="head")
    downgrade = commands.add_parser("downgrade", help="revert migrations down to a revision")
    downgrade.add_argument("revision")

    commands.add_parser("loggers", help="print the logger tree after the app's logging set-up")
    trainer = commands.add_parser(
        "trainer", help="switch trainer scenarios on and off (loan-api trainer --help)",
        add_help=False,
    )  # fmt: skip
    trainer.add_argument("trainer_args", nargs=argparse.REMAINDER)

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["trainer"]:  # its own parser: options such as --help belong to it
        from servicekit.trainer.cli import main as trainer_main

        return trainer_main(argv[1:], prog="loan-api trainer", default_url="http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "serve":
        from servicekit.serve import serve_app

        if settings.admin_enabled and args.workers > 1:
            # Scenarios live in process memory: an admin call would reach one worker only.
            parser.error("trainer mode (ADMIN_ENABLED=true) needs --workers 1")

        serve_app(
            "loan_api.main:create_app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            service_name="loan-api",
            log_level=settings.log_level,
            log_format=settings.log_format,
        )
    elif args.command == "migrate":
        from loan_api import migrate as migrations

        migrations.upgrade(settings.database_dsn(), args.revision)
    elif args.command == "downgrade":
        from loan_api import migrate as migrations

        migrations.downgrade(settings.database_dsn(), args.revision)
    elif args.command == "loggers":
        from loan_api.main import create_app
        from observability.loggers import print_logger_tree

        create_app(settings)
        print_logger_tree()
    return 0


if __name__ == "__main__":
    sys.exit(main())

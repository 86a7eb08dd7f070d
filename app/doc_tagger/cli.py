"""``doc-tagger``: serve the tagger, or print the logger tree.

doc-tagger serve --port 8001 [--workers N]
doc-tagger loggers
doc-tagger trainer list|on|off|reset ...   # trainer scenarios on the tagger (docs/tour.md)
"""

from __future__ import annotations

import argparse
import sys

from doc_tagger.config import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="doc-tagger", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the tagger with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--workers", type=int, default=1)
    commands.add_parser("loggers", help="print the logger tree after the app's logging set-up")
    trainer = commands.add_parser(
        "trainer", help="switch trainer scenarios on and off (doc-tagger trainer --help)",
        add_help=False,
    )  # fmt: skip
    trainer.add_argument("trainer_args", nargs=argparse.REMAINDER)

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["trainer"]:  # its own parser: options such as --help belong to it
        from servicekit.trainer.cli import main as trainer_main

        return trainer_main(
            argv[1:], prog="doc-tagger trainer", default_url="http://127.0.0.1:8001"
        )
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "serve":
        from servicekit.serve import serve_app

        if settings.admin_enabled and args.workers > 1:
            parser.error("trainer mode (ADMIN_ENABLED=true) needs --workers 1")

        serve_app(
            "doc_tagger.main:create_app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            service_name="doc-tagger",
            log_level=settings.log_level,
            log_format=settings.log_format,
        )
    elif args.command == "loggers":
        from doc_tagger.main import create_app
        from observability.loggers import print_logger_tree

        create_app(settings)
        print_logger_tree()
    return 0


if __name__ == "__main__":
    sys.exit(main())

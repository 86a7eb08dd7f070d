"""The command line every service shares: ``serve``, ``loggers`` and ``trainer``.

A service adds its own commands (the api's ``migrate`` and ``downgrade``) through ``extra``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from servicekit.log_settings import LogFormat, LogLevel


class _ServiceSettings(Protocol):
    @property
    def admin_enabled(self) -> bool: ...
    @property
    def log_level(self) -> LogLevel: ...
    @property
    def log_format(self) -> LogFormat: ...
    def problems(self) -> list[tuple[str, str]]: ...


class CommandFailed(Exception):  # noqa: N818 - a command's outcome, printed in one line
    """A command that could not do its work (not a wrong setting): one line, exit 1."""


def configuration_problems(load: Callable[[], _ServiceSettings]) -> list[str]:
    """One line per invalid setting, naming its environment variable; empty when all is well.

    Three sources: the service's settings (pydantic), what the settings check beyond pydantic
    (``problems()``: the admin token, files), and the ``OTEL_*`` variables the observability
    package and the OpenTelemetry SDK read (:func:`loan_desk_telemetry.environment_problems`).
    A wrong setting stops the command before anything starts, with these lines instead of a
    traceback. Values are shown only for settings that are not secret, URLs without their user
    info.
    """
    from loan_desk_telemetry import environment_problems

    found: dict[str, str] = {}
    settings: _ServiceSettings | None = None
    try:
        settings = load()
    except ValidationError as exc:
        found.update(validation_problems(exc))
    checks: list[tuple[str, str]] = []
    if settings is not None:
        checks = settings.problems()
    else:
        # Some setting failed: trainer mode's token is still checked, on its own settings.
        from servicekit.trainer.settings import AdminSettings

        with contextlib.suppress(ValidationError):  # its own fields are among the errors above
            checks = AdminSettings().problems()
    for name, message in checks:
        found.setdefault(name, message)
    for name, message in environment_problems():
        found.setdefault(name, message)
    return [f"{name}: {message}" for name, message in found.items()]


def validation_problems(exc: ValidationError, *, prefix: str = "") -> dict[str, str]:
    """``{variable: what is wrong}`` for a settings class pydantic refused (the first error of
    each variable), the value shown only for a setting that is not secret, redacted."""
    from loan_desk_telemetry import redact_text

    found: dict[str, str] = {}
    for error in exc.errors():
        name = prefix + ("_".join(str(part) for part in error["loc"]).upper() or "SETTINGS")
        message = str(error["msg"]).removeprefix("Value error, ")
        if not _is_secret(error["loc"]):
            message += f" (got {redact_text(repr(error['input']))})"
        found.setdefault(name, message)
    return found


def _is_secret(location: tuple[int | str, ...]) -> bool:
    name = "_".join(str(part) for part in location).lower()
    return any(word in name for word in ("token", "password", "secret"))


@dataclass(frozen=True)
class ServiceCli:
    prog: str
    description: str
    service_name: str
    factory: str  # "package.module:create_app", called once per worker process
    default_port: int
    settings: Callable[[], _ServiceSettings]
    # Adds the service's own subcommands; ``run_extra`` handles them (True when it did).
    add_extra: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None = None
    run_extra: Callable[[argparse.Namespace], bool] | None = None

    def main(self, argv: Sequence[str] | None = None) -> int:
        args_list = list(sys.argv[1:] if argv is None else argv)
        if args_list[:1] == ["trainer"]:  # its own parser: options such as --help belong to it
            from servicekit.trainer.cli import main as trainer_main

            return trainer_main(
                args_list[1:],
                prog=f"{self.prog} trainer",
                default_url=f"http://127.0.0.1:{self.default_port}",
            )
        parser = self._parser()
        args = parser.parse_args(args_list)
        problems = configuration_problems(self.settings)
        if problems:
            print(f"{self.prog}: the configuration is not valid:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
        try:
            if args.command == "serve":
                self._serve(parser, args)
            elif args.command == "loggers":
                self._loggers()
            elif self.run_extra is None or not self.run_extra(args):
                parser.error(f"unknown command {args.command}")
        except CommandFailed as exc:
            print(f"{self.prog} {args.command}: {exc}", file=sys.stderr)
            return 1
        return 0

    def _parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        commands = parser.add_subparsers(dest="command", required=True)
        serve = commands.add_parser(
            "serve",
            help="run the service with uvicorn",
            description="Run the service with uvicorn; settings come from the environment.",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
        serve.add_argument("--port", type=int, default=self.default_port, help="port to listen on")
        serve.add_argument(
            "--workers",
            type=int,
            default=1,
            help="worker processes (more than 1: set PROMETHEUS_MULTIPROC_DIR; trainer mode "
            "needs 1)",
        )
        if self.add_extra is not None:
            self.add_extra(commands)
        commands.add_parser("loggers", help="print the logger tree after the app's logging set-up")
        commands.add_parser(
            "trainer", help=f"switch trainer scenarios on and off ({self.prog} trainer --help)"
        )
        return parser

    def _serve(self, parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
        from servicekit.serve import serve_app

        settings = self.settings()
        if settings.admin_enabled and args.workers > 1:
            # Scenarios live in process memory: an admin call would reach one worker only.
            parser.error("trainer mode (ADMIN_ENABLED=true) needs --workers 1")
        serve_app(
            self.factory,
            host=args.host,
            port=args.port,
            workers=args.workers,
            service_name=self.service_name,
            log_level=settings.log_level,
            log_format=settings.log_format,
        )

    def _loggers(self) -> None:
        import importlib

        from loan_desk_telemetry.loggers import print_logger_tree

        module_name, _, attribute = self.factory.partition(":")
        getattr(importlib.import_module(module_name), attribute)()
        print_logger_tree()

"""``loadgen``: drive the api at a steady rate until stopped (or for a set duration).

The settings are environment variables (``loadgen.settings``); an invalid one stops the command
before anything starts, with one line per variable and exit code 2, as the services' command
line does. Its log lines go through the services' pipeline
(:func:`loan_desk_telemetry.configure_logging`), at ``LOG_LEVEL`` in ``LOG_FORMAT``. The run
loop is ``loadgen.runner``, one flow ``loadgen.flow``, and the run-time traffic profile
``loadgen.control``.
"""

from __future__ import annotations

import asyncio
import sys

import structlog

from loadgen.runner import run
from loadgen.settings import configuration_problems, log_settings
from loan_desk_telemetry import configure_logging, redact_url

log = structlog.get_logger("loadgen")


def main() -> int:
    settings, problems = configuration_problems()
    log_config, log_problems = log_settings()
    if settings is None or log_config is None or problems or log_problems:
        # As the services' command line does (servicekit.cli): exit 2, one line per setting.
        print("loadgen: the configuration is not valid:", file=sys.stderr)
        for problem in problems + log_problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    configure_logging(service_name="loadgen", level=log_config.log_level, fmt=log_config.log_format)
    log.info(
        "loadgen.start",
        # A URL may carry user info (http://user:password@api:8000): never into the logs.
        api_url=redact_url(str(settings.api_url)),
        flows_per_second=settings.flows_per_second,
    )
    asyncio.run(run(settings))
    return 0

"""Running a service under uvicorn with the project's single logging pipeline.

uvicorn's own logging config is switched off (``log_config=None``) and its access log too: the
observability package writes one canonical access line per request, inside the request's span.
Each worker process calls the app factory, which configures logging again (idempotently), so
``--workers N`` logs the same way as one process.
"""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn

from servicekit.log_settings import LogFormat, LogLevel

#: In-flight requests get this long to finish after SIGTERM (compose's stop_grace_period allows
#: for it plus the telemetry flush, loan_desk_telemetry._telemetry.SHUTDOWN_TIMEOUT_SECONDS).
GRACEFUL_SHUTDOWN_SECONDS = 10

#: With ``--workers N``, uvicorn's parent pings each worker every half second and kills one that
#: does not answer within this many seconds (uvicorn 0.54.0, uvicorn/supervisors/multiprocess.py,
#: Multiprocess.keep_subprocess_alive; its default, 5 s, counts from the worker's spawn). A
#: worker still importing the app on a busy machine misses 5 s, and is killed and respawned
#: again and again while the port stays open; 30 s lets it start and still replaces a hung one.
WORKER_HEALTHCHECK_SECONDS = 30


def _fresh_multiprocess_dir() -> None:
    """prometheus-client's multiprocess mode keeps one file per worker; files left by an earlier
    run would be summed into this one's totals, so the folder starts empty."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def serve_app(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    service_name: str,
    log_level: LogLevel,
    log_format: LogFormat,
) -> None:
    from loan_desk_telemetry import configure_logging

    configure_logging(service_name=service_name, level=log_level, fmt=log_format)
    _fresh_multiprocess_dir()
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )

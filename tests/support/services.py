"""The api and the tagger as real uvicorn processes on free loopback ports.

`loan-api serve` and `doc-tagger serve` (the console scripts next to ``sys.executable``) run with
the environment a deployment would give them: a migrated SQLite file, ``TAGGER_URL``, JSON logs
and the standard ``OTEL_*`` variables pointing at a test OTLP receiver. stdout (the JSON log
lines) and stderr go to files the tests read.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.tools import environment_without, free_port

LOOPBACK = "127.0.0.1"
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

# Short batch delays: spans and log records leave within a fraction of a second, so the tests
# poll for a moment instead of waiting for the SDK default of 5 s (spans) / 1 s (logs).
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200"}
BATCH_PREFIXES = ("OTEL_BSP_", "OTEL_BLRP_")


def compose_batch_env(
    service: str = "api", compose_file: Path = ROOT / "compose.yaml"
) -> dict[str, str]:
    """The SDK batch settings (``OTEL_BSP_*``, ``OTEL_BLRP_*``) that compose.yaml gives
    ``service``, as the strings the process sees."""
    compose = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    if service not in compose["services"]:  # the alert receiver: in the included stack's file
        compose = yaml.safe_load((ROOT / "compose.observability.yaml").read_text(encoding="utf-8"))
    environment = compose["services"][service].get("environment") or {}
    return {k: str(v) for k, v in environment.items() if k.startswith(BATCH_PREFIXES)}


def base_env() -> dict[str, str]:
    """The parent's environment without anything that would steer the services elsewhere."""
    return environment_without("OTEL_", "PROMETHEUS_", "DATABASE_", "TAGGER_", "LOG_", "APP_")


def otel_env(
    *, service: str, endpoint: str, protocol: str, run_id: str, extra_resource: str = ""
) -> dict[str, str]:
    resource = f"deployment.environment.name=test,test.run_id={run_id}"
    if extra_resource:
        resource += "," + extra_resource
    return {
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_RESOURCE_ATTRIBUTES": resource,
        # Short export timeouts keep a dead receiver from holding a worker thread for long.
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
        **FAST_EXPORT,
    }


def migrate(database_url: str, *, timeout: float = 120) -> None:
    env = base_env() | {"DATABASE_URL": database_url, "OTEL_SDK_DISABLED": "true"}
    result = subprocess.run(
        [str(BIN / "loan-api"), "migrate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"loan-api migrate failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    _files: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON line the service printed so far (non-JSON lines are skipped)."""
        lines = []
        for raw in self.stdout.read_text(encoding="utf-8", errors="replace").splitlines():
            with suppress(ValueError):
                value = json.loads(raw)
                if isinstance(value, dict):
                    lines.append(value)
        return lines

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace") + self.stderr.read_text(
            encoding="utf-8", errors="replace"
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.output()[-4000:]}"
                )
            with suppress(httpx.HTTPError):
                response = httpx.get(f"{self.url}/health/ready", timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            time.sleep(0.1)
        raise TimeoutError(
            f"{self.name} not ready after {timeout} s ({last}):\n{self.output()[-4000:]}"
        )

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (uvicorn shuts down gracefully, the SDK flushes), SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for handle in self._files:
            handle.close()
        return int(self.process.returncode)


def start_service(
    command: str,
    *,
    name: str,
    env: Mapping[str, str],
    log_dir: Path,
    args: tuple[str, ...] = (),
    port: int | None = None,
) -> Service:
    """Start ``<command> serve --port <free port>`` and return at once (see `wait_ready`)."""
    port = port or free_port()
    stdout_path = log_dir / f"{name}.stdout.log"
    stderr_path = log_dir / f"{name}.stderr.log"
    stdout = stdout_path.open("wb")
    stderr = stderr_path.open("wb")
    process = subprocess.Popen(
        [str(BIN / command), "serve", "--host", LOOPBACK, "--port", str(port), *args],
        env=dict(env),
        cwd=ROOT,
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
    )
    return Service(name, port, process, stdout_path, stderr_path, [stdout, stderr])


def started(service: Service) -> Service:
    """``service`` once it answers ``/health/ready``; stopped if it never does."""
    try:
        service.wait_ready()
    except BaseException:
        service.stop()
        raise
    return service


@dataclass
class Services:
    api: Service
    tagger: Service
    database_url: str

    def stop(self) -> None:
        self.api.stop()
        self.tagger.stop()


@contextmanager
def running_services(
    tmp: Path,
    *,
    run_id: str,
    api_endpoint: str,
    api_protocol: str,
    tagger_endpoint: str,
    tagger_protocol: str,
    api_args: tuple[str, ...] = (),
    api_extra_env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Services]:
    """The tagger and the api (migrated SQLite in ``tmp``), ready, stopped on exit.

    ``extra_env`` goes to both services and wins over the settings here (e.g. trainer mode, or
    the compose stack's batch delays instead of `FAST_EXPORT`); ``api_extra_env`` to the api
    only.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite+aiosqlite:///{tmp / 'loan_api.db'}"
    migrate(database_url)
    common = base_env() | {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "APP_ENV": "test"}
    extra = dict(extra_env or {})
    tagger = start_service(
        "doc-tagger",
        name="tagger",
        log_dir=tmp,
        env=common
        | otel_env(
            service="doc-tagger", endpoint=tagger_endpoint, protocol=tagger_protocol, run_id=run_id
        )
        | extra,
    )
    api: Service | None = None
    try:
        api = start_service(
            "loan-api",
            name="api",
            log_dir=tmp,
            args=api_args,
            env=common
            | otel_env(
                service="loan-api", endpoint=api_endpoint, protocol=api_protocol, run_id=run_id
            )
            | {"DATABASE_URL": database_url, "TAGGER_URL": tagger.url}
            | extra
            | dict(api_extra_env or {}),
        )
        tagger.wait_ready()
        api.wait_ready()
        services = Services(api=api, tagger=tagger, database_url=database_url)
        yield services
    finally:
        if api is not None:
            api.stop()
        tagger.stop()

"""Runs one lesson of docs/lessons.yml the way the compose stack would live through it, without
Docker, and reports what fired and when.

Each lesson gets a stack of its own, so no lesson's alerts mix with another's (the business
rules sum over every api a Prometheus scrapes): the tagger, the api and the api-canary as real
uvicorn processes in trainer mode (`ADMIN_ENABLED`, a random token; the canary reports
compose's CANARY_VERSION; each api has its own SQLite file), the load generator with
compose.yaml's loadgen settings (addresses rewritten) following the api's traffic profile,
Debian's Prometheus with the project's prometheus.yml and rule files, Debian's Alertmanager with
alertmanager.yml (`tests/support/alerting.py`: only addresses rewritten), and a webhook receiver
standing in for alert-receiver. Scrape and evaluation intervals and Alertmanager's timings are
the shipped ones, so the times measured here are the times a class sees.

OTLP export is off (`OTEL_SDK_DISABLED=true`): no collector runs here, and the alert rules read
only the services' Prometheus metrics, which do not depend on it.
"""

from __future__ import annotations

import math
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import alerting as al
from tests.support import dashboards as d
from tests.support.daemons import stop_process
from tests.support.lessons import Lesson
from tests.support.prometheus import Prometheus
from tests.support.services import BIN, LOOPBACK, ROOT, Service, base_env, migrate, start_service
from tests.support.tools import free_port

Json = dict[str, Any]

# How long a lesson may take from its first step: the longest (the tagger failure ratio, `for:
# 10m`) needs about 20 minutes to fire and resolve.
LESSON_DEADLINE_SECONDS = 30 * 60
# After the last step of a lesson that fires nothing: the 5-minute rate windows forget the
# lesson, then no alert may be pending (a pending alert could still fire).
QUIET_AFTER_SECONDS = 5 * 60 + 30
POLL_SECONDS = 2.0

_migrated_lock = threading.Lock()
# Stacks start two at a time: ten starting at once on two cores time out importing Python.
_starting = threading.Semaphore(2)
NICE = al.NICE
# What produces series here (tests/support/dashboards.py, data_sources).
HERE = frozenset({"app", "recording rules", "prometheus"})
_migrated: dict[Path, Path] = {}


def migrated_database(directory: Path, name: str) -> str:
    """A SQLite file at Alembic head: migrated once per directory's parent, then copied (ten
    stacks starting at once should not run twenty migrations)."""
    with _migrated_lock:
        template = _migrated.get(directory.parent)
        if template is None:
            template = directory.parent / "migrated-template.db"
            migrate(f"sqlite+aiosqlite:///{template}")
            _migrated[directory.parent] = template
    target = directory / f"{name}.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


def compose_file() -> Json:
    doc: Json = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return doc


def env_file() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


@dataclass
class AlertTiming:
    alert: str
    firing: float | None = None  # seconds from the lesson's first step
    resolved: float | None = None
    labels: Json = field(default_factory=dict)
    annotations: Json = field(default_factory=dict)


@dataclass
class LessonResult:
    lesson: Lesson
    problems: list[str] = field(default_factory=list)
    timings: dict[str, AlertTiming] = field(default_factory=dict)
    last_step: float | None = None  # seconds from the first step to the last action
    panels_checked: list[str] = field(default_factory=list)
    panels_skipped: list[str] = field(default_factory=list)
    notifications: int = 0
    duration: float = 0.0


@dataclass
class LessonStack:
    lesson: Lesson
    tmp: Path
    token: str
    services: dict[str, Service]
    restart: dict[str, Callable[[], Service]]
    prometheus: Prometheus
    alertmanager: al.Alertmanager
    receiver: al.WebhookReceiver
    external_labels: dict[str, str]

    def admin(self, method: str, service: str, path: str, body: Json | None = None) -> None:
        url = f"{self.services[service].url}{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        response = httpx.request(method, url, json=body, headers=headers, timeout=30.0)
        if response.status_code != 200:
            raise AssertionError(
                f"{method} {path} on {service}: {response.status_code} {response.text}"
            )


def _service_env(token: str) -> dict[str, str]:
    return base_env() | {
        "APP_ENV": "demo",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "ADMIN_ENABLED": "true",
        "ADMIN_TOKEN": token,
        "OTEL_SDK_DISABLED": "true",
    }


def _loadgen_env(api: Service, canary: Service, token_file: Path) -> dict[str, str]:
    """compose.yaml's loadgen environment with its addresses and token file rewritten."""
    compose_env: dict[str, str] = {
        k: str(v) for k, v in compose_file()["services"]["loadgen"]["environment"].items()
    }
    rewrites = {
        "LOADGEN_API_URL": api.url,
        "LOADGEN_CANARY_URL": canary.url,
        "LOADGEN_ADMIN_TOKEN_FILE": str(token_file),
    }
    assert set(rewrites) <= set(compose_env), compose_env
    return base_env() | compose_env | rewrites


def start_stack(lesson: Lesson, tmp: Path, stack: ExitStack) -> LessonStack:
    tmp.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    token_file = tmp / "admin_token"
    token_file.write_text(token + "\n", encoding="utf-8")
    env = _service_env(token)
    services: dict[str, Service] = {}
    restart: dict[str, Callable[[], Service]] = {}

    tagger_port = free_port()

    def start_tagger() -> Service:
        return start_service(
            "doc-tagger",
            name="tagger",
            log_dir=tmp,
            env=env | {"OTEL_SERVICE_NAME": "doc-tagger"},
            port=tagger_port,
        )

    services["tagger"] = start_tagger()
    restart["tagger"] = start_tagger
    # A lambda on purpose: `start` steps replace the tagger, stop whichever runs at the end.
    stack.callback(lambda: services["tagger"].stop())  # noqa: PLW0108
    tagger_url = f"http://{LOOPBACK}:{tagger_port}"
    for name, version in (("api", None), ("api-canary", env_file()["CANARY_VERSION"])):
        database = migrated_database(tmp, name)
        extra = {
            "OTEL_SERVICE_NAME": "loan-api",
            "DATABASE_URL": database,
            "TAGGER_URL": tagger_url,
        }
        if version:
            extra["SERVICE_VERSION"] = version
        service = start_service(
            "loan-api", name=name, log_dir=tmp, env=env | extra, port=free_port()
        )
        services[name] = service
        stack.callback(service.stop)
    for service in services.values():
        service.wait_ready(timeout=180)

    receiver = al.start_receiver()
    stack.callback(receiver.stop)
    am_config = al.alertmanager_config(receiver.url)
    assert al.only_addresses_differ(al.ALERTMANAGER_CONFIG, am_config)
    alertmanager = stack.enter_context(
        al.running_alertmanager(tmp / "alertmanager", am_config, free_port())
    )
    prom_port = free_port()
    prom_config = al.prometheus_config(
        {
            "api": [
                f"{LOOPBACK}:{services['api'].port}",
                f"{LOOPBACK}:{services['api-canary'].port}",
            ],
            "tagger": [f"{LOOPBACK}:{tagger_port}"],
            "prometheus": [f"{LOOPBACK}:{prom_port}"],
        },
        alertmanager.url.removeprefix("http://"),
    )
    assert al.only_addresses_differ(al.PROMETHEUS_CONFIG, prom_config)
    prometheus = stack.enter_context(
        al.running_prometheus(tmp / "prometheus", prom_config, prom_port)
    )

    return LessonStack(
        lesson,
        tmp,
        token,
        services,
        restart,
        prometheus,
        alertmanager,
        receiver,
        dict(prom_config["global"]["external_labels"]),
    )


def start_load(stack: LessonStack, exit_stack: ExitStack) -> None:
    """The load generator, at a lower CPU priority than the services it measures (so that
    ten stacks on two cores do not slow requests down by contention, which the burn-rate
    alerts would count)."""
    token_file = stack.tmp / "admin_token"
    log = (stack.tmp / "loadgen.log").open("wb")
    loadgen = subprocess.Popen(
        [*NICE, str(BIN / "loadgen")],
        env=_loadgen_env(stack.services["api"], stack.services["api-canary"], token_file),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )

    def stop() -> None:
        stop_process(loadgen, timeout=30)
        log.close()

    exit_stack.callback(stop)


# --- what arrived -----------------------------------------------------------------------------


def record(stack: LessonStack, t0: float, timings: dict[str, AlertTiming]) -> list[Json]:
    """Update first firing / first resolved-after-firing times per declared alert from the
    receiver; return every alert of every notification (to find undeclared ones)."""
    seen = []
    for notification in stack.receiver.notifications():
        for alert in notification.alerts():
            seen.append(alert)
            name = alert.get("labels", {}).get("alertname")
            timing = timings.get(name)
            if timing is None:
                continue
            at = round(notification.received - t0, 1)
            if alert.get("status") == "firing" and timing.firing is None:
                timing.firing = at
                timing.labels = dict(alert.get("labels") or {})
                timing.annotations = dict(alert.get("annotations") or {})
            elif (
                alert.get("status") == "resolved"
                and timing.firing is not None
                and timing.resolved is None
            ):
                timing.resolved = at
    return seen


def alerts_in_prometheus(prometheus: Prometheus, state: str) -> set[str]:
    return {
        a["labels"]["alertname"]
        for a in prometheus.get("/api/v1/alerts")["alerts"]
        if a["state"] == state
    }


def fired_in_prometheus(prometheus: Prometheus, seconds: float) -> set[str]:
    window = max(60, math.ceil(seconds))
    result = prometheus.query(f'max_over_time(ALERTS{{alertstate="firing"}}[{window}s])')
    return {r["metric"]["alertname"] for r in result}


# --- checks -----------------------------------------------------------------------------------


def notification_problems(stack: LessonStack, timing: AlertTiming, declared: Json) -> list[str]:
    """The firing notification carries the declared labels, no link label, and links that
    work: the runbook section on the forge, the dashboard panel for the service."""
    name = timing.alert
    problems = []
    for key, value in (declared.get("labels") or {}).items():
        if timing.labels.get(key) != value:
            problems.append(f"{name}: label {key}={timing.labels.get(key)!r}, declared {value!r}")
    for dropped in stack.external_labels:
        if dropped in timing.labels:
            problems.append(f"{name}: the notification carries the link label {dropped}")
    runbook = f"{stack.external_labels['runbooks_url']}#{name.lower()}"
    if timing.annotations.get("runbook_url") != runbook:
        problems.append(
            f"{name}: runbook_url {timing.annotations.get('runbook_url')!r} != {runbook!r}"
        )
    dashboard = str(timing.annotations.get("dashboard_url", ""))
    grafana = stack.external_labels["grafana_url"]
    if not dashboard.startswith(f"{grafana}/d/") or "{{" in dashboard or "<no value>" in dashboard:
        problems.append(f"{name}: dashboard_url {dashboard!r}")
    if "var-service=" in dashboard and not dashboard.endswith(
        f"var-service={timing.labels.get('app_name')}"
    ):
        problems.append(f"{name}: dashboard_url {dashboard!r} does not pick the alert's service")
    for key in ("summary", "description"):
        text = str(timing.annotations.get(key, ""))
        if not text.strip() or "<no value>" in text or "error expanding" in text:
            problems.append(f"{name}: {key} {text!r}")
    return problems


def panel_problems(stack: LessonStack, boards: dict[str, Json], result: LessonResult) -> list[str]:
    """The lesson's Prometheus panels have data now. Loki and Tempo panels, and Prometheus
    panels on series that only the stack produces (Tempo's metrics generator, the collector),
    are left to the live tier."""
    problems = []
    for uid, title in stack.lesson.panels:
        queries = [
            expr
            for t, expr in d.promql_queries(boards[uid])
            if t == title and d.data_sources(expr) <= HERE
        ]
        if not queries:
            result.panels_skipped.append(f"{uid}/{title}")
            continue
        values = []
        for expr in queries:
            try:
                values += [float(r["value"][1]) for r in stack.prometheus.query(expr)]
            except AssertionError as exc:
                problems.append(f"panel {title}: {exc}")
        if not any(math.isfinite(v) for v in values):
            problems.append(f"panel {uid}/{title} shows no data: {values}")
        result.panels_checked.append(f"{uid}/{title}")
    return problems


# --- the lesson -------------------------------------------------------------------------------


def run_step(stack: LessonStack, step: Json, t0: float, timings: dict[str, AlertTiming]) -> None:
    if "switch_on" in step:
        stack.admin(
            "PUT",
            step["service"],
            f"/admin/scenarios/{step['switch_on']}",
            step.get("params") or {},
        )
    elif "switch_off" in step:
        stack.admin("DELETE", step["service"], f"/admin/scenarios/{step['switch_off']}")
    elif "reset" in step:
        stack.admin("DELETE", step["service"], "/admin/scenarios")
    elif "traffic" in step:
        body = dict(step["traffic"])
        if body.get("profile") == "default":
            stack.admin("DELETE", "api", "/admin/traffic")
        else:
            stack.admin("PUT", "api", "/admin/traffic", body)
    elif "stop" in step:
        stack.services[step["stop"]].stop()
    elif "start" in step:
        service = stack.restart[step["start"]]()
        service.wait_ready(timeout=180)
        stack.services[step["start"]] = service
    elif "wait_seconds" in step:
        time.sleep(float(step["wait_seconds"]))
    elif "wait_firing" in step:
        deadline = t0 + LESSON_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            record(stack, t0, timings)
            if all(timings[name].firing is not None for name in step["wait_firing"]):
                return
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"{step['wait_firing']} did not fire")
    else:
        raise ValueError(f"unknown step {step}")


def run_lesson(
    lesson: Lesson, tmp: Path, boards: dict[str, Json], all_started: threading.Barrier
) -> LessonResult:
    """Start the lesson's stack, wait until every lesson's stack is up (`all_started`: no
    stack starts while another one serves traffic), then load, warm up, run the steps."""
    result = LessonResult(lesson)
    started = time.monotonic()
    timings = {f["alert"]: AlertTiming(f["alert"]) for f in lesson.fires}
    result.timings = timings
    declared = {f["alert"]: f for f in lesson.fires}
    try:
        with ExitStack() as exit_stack:
            try:
                with _starting:
                    stack = start_stack(lesson, tmp, exit_stack)
            finally:
                all_started.wait(timeout=900)
            start_load(stack, exit_stack)
            time.sleep(lesson.warmup_minutes * 60)
            t0 = time.monotonic()
            panels_done = False
            for step in lesson.steps:
                run_step(stack, step, t0, timings)
                if "wait_firing" not in step and "wait_seconds" not in step:
                    result.last_step = round(time.monotonic() - t0, 1)
                elif not panels_done:
                    # The lesson has been on for a while: what the class looks at now.
                    result.problems += panel_problems(stack, boards, result)
                    panels_done = True
            if lesson.fires:
                deadline = t0 + LESSON_DEADLINE_SECONDS
                while time.monotonic() < deadline:
                    record(stack, t0, timings)
                    if not panels_done and any(t.firing is not None for t in timings.values()):
                        result.problems += panel_problems(stack, boards, result)
                        panels_done = True
                    if all(t.resolved is not None for t in timings.values()):
                        break
                    time.sleep(POLL_SECONDS)
            else:
                if not panels_done:
                    result.problems += panel_problems(stack, boards, result)
                quiet_from = time.monotonic() + QUIET_AFTER_SECONDS
                deadline = t0 + LESSON_DEADLINE_SECONDS
                while time.monotonic() < deadline:
                    if time.monotonic() >= quiet_from and not alerts_in_prometheus(
                        stack.prometheus, "pending"
                    ):
                        break
                    time.sleep(POLL_SECONDS * 5)
                else:
                    pending = alerts_in_prometheus(stack.prometheus, "pending")
                    result.problems.append(f"still pending at the deadline: {pending}")
            # What arrived, and what Prometheus fired, against the declaration.
            seen = record(stack, t0, timings)
            result.notifications = len(stack.receiver.notifications())
            for timing in timings.values():
                if timing.firing is None:
                    result.problems.append(f"{timing.alert} never fired")
                    continue
                if timing.resolved is None:
                    result.problems.append(f"{timing.alert} fired but never resolved")
                result.problems += notification_problems(stack, timing, declared[timing.alert])
            undeclared = {a.get("labels", {}).get("alertname") for a in seen} - set(declared)
            if undeclared:
                result.problems.append(f"undeclared alerts notified: {sorted(undeclared)}")
            fired = fired_in_prometheus(stack.prometheus, time.monotonic() - started)
            if fired - set(declared):
                result.problems.append(
                    f"undeclared alerts fired in Prometheus: {sorted(fired - set(declared))}"
                )
            pending = alerts_in_prometheus(stack.prometheus, "pending")
            if pending:
                result.problems.append(f"alerts still pending at the end: {sorted(pending)}")
            if stack.receiver.rejected:
                result.problems.append(f"malformed notifications: {stack.receiver.rejected}")
    except Exception as exc:
        result.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        result.duration = round(time.monotonic() - started, 1)
        with suppress(Exception):
            (tmp / "result.txt").write_text(repr(result), encoding="utf-8")
    return result


def inhibition_problems(tmp: Path) -> list[str]:
    """The shipped inhibitions on Debian's Alertmanager, with alerts posted to its API as
    Prometheus would post them: a target that is down mutes its service's other alerts; a
    collector that drops data mutes nothing; the tagger being down mutes nothing of the api."""
    problems: list[str] = []
    with ExitStack() as stack:
        receiver = al.start_receiver()
        stack.callback(receiver.stop)
        alertmanager = stack.enter_context(
            al.running_alertmanager(tmp, al.alertmanager_config(receiver.url), free_port())
        )
        source = {
            "alertname": "ServiceTargetDown",
            "job": "tagger",
            "app_name": "doc-tagger",
            "instance": "tagger:8001",
            "severity": "critical",
        }
        muted = {
            "alertname": "LoanTaggerHighFailureRatio",
            "app_name": "doc-tagger",
            "severity": "warning",
        }
        other_service = {
            "alertname": "HttpHighErrorRatio",
            "app_name": "loan-api",
            "severity": "critical",
        }
        dropping = {
            "alertname": "OtelCollectorDroppingTelemetry",
            "job": "otel-collector",
            "exporter": "otlp_http/loki",
            "signal": "logs",
            "severity": "critical",
        }
        failing = {
            "alertname": "OtelCollectorExporterSendFailures",
            "job": "otel-collector",
            "exporter": "otlp_http/loki",
            "signal": "logs",
            "severity": "warning",
        }
        alerts = [source, muted, other_service, dropping, failing]
        ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
        alertmanager.post(
            [{"labels": a, "annotations": {"summary": "test"}, "endsAt": ends} for a in alerts]
        )
        expected = {a["alertname"] for a in alerts} - {muted["alertname"]}
        deadline = time.monotonic() + 150  # the warnings' group_wait is 1 minute
        notified: set[str] = set()
        while time.monotonic() < deadline and notified != expected:
            notified = {
                a["labels"]["alertname"]
                for n in receiver.notifications()
                for a in n.alerts()
                if a["status"] == "firing"
            }
            time.sleep(POLL_SECONDS)
        if notified != expected:
            problems.append(f"notified {sorted(notified)}, expected {sorted(expected)}")
        states = {a["labels"]["alertname"]: a["status"] for a in alertmanager.alerts()}
        if (
            states[muted["alertname"]].get("inhibitedBy") == []
            or states[muted["alertname"]]["state"] != "suppressed"
        ):
            problems.append(f"{muted['alertname']} is not inhibited: {states[muted['alertname']]}")
        for name in expected:
            if states[name]["state"] != "active":
                problems.append(f"{name} is muted: {states[name]}")
    return problems

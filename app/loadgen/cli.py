"""``loadgen``: drive the api at a steady rate until stopped (or for a set duration).

Environment: LOADGEN_API_URL (http://127.0.0.1:8000), LOADGEN_FLOWS_PER_SECOND (1.0),
LOADGEN_CONCURRENCY (4), LOADGEN_DURATION_SECONDS (0 = until stopped),
LOADGEN_BAD_REQUEST_SHARE (0.1), LOADGEN_UNREADABLE_SHARE (0.05), LOADGEN_SEED (none).

Canary: LOADGEN_CANARY_URL (none) and LOADGEN_CANARY_SHARE (0.0): that share of the flows goes
to the canary (a whole flow each, like a sticky load balancer).

Run-time control (trainer mode): with LOADGEN_ADMIN_TOKEN_FILE (or LOADGEN_ADMIN_TOKEN) set, the
load generator polls the api's ``GET /admin/traffic`` every LOADGEN_CONTROL_INTERVAL_SECONDS (5)
and follows the profile a trainer set there (calm, busy, spike; the canary's share); fields left
null, and any time the api cannot be asked, mean the settings above. One control plane: the
api's admin endpoint. The token is held to the services' rule (at least 32 characters, no
placeholder); a weak or unreadable one, or any invalid setting, stops loadgen with one line per
variable and exit code 2, as the services' command line does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
from pydantic import Field, HttpUrl, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.trainer.settings import WeakAdminTokenError, token_problem

log = structlog.get_logger("loadgen")

FIRST_NAMES = ("Anna", "Ben", "Chiara", "Deniz", "Emil", "Farah", "Greta", "Hugo")
LAST_NAMES = ("Schulze", "Rossi", "Novak", "Yilmaz", "Berg", "Costa", "Meyer")
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Leipzig")


class LoadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOADGEN_", extra="ignore")

    api_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    flows_per_second: float = Field(default=1.0, gt=0, le=100)
    concurrency: int = Field(default=4, ge=1, le=64)
    duration_seconds: float = Field(default=0, ge=0)
    bad_request_share: float = Field(default=0.1, ge=0, le=1)
    unreadable_share: float = Field(default=0.05, ge=0, le=1)
    seed: int | None = None
    canary_url: HttpUrl | None = None
    canary_share: float = Field(default=0.0, ge=0, le=1)
    admin_token_file: Path | None = None
    admin_token: SecretStr | None = None
    control_interval_seconds: float = Field(default=5.0, gt=0, le=300)

    def admin_token_value(self) -> str | None:
        """The admin token (None: no run-time control).

        Held to the services' rule (``servicekit.trainer.settings.token_problem``): raises
        :class:`WeakAdminTokenError` when it cannot be read or is weak; the message never holds
        the token."""
        if self.admin_token_file is not None:
            try:
                token = self.admin_token_file.read_text().strip()
            except OSError as exc:
                raise WeakAdminTokenError(
                    f"{self.admin_token_file} cannot be read: {type(exc).__name__}"
                ) from None
        elif self.admin_token is not None:
            token = self.admin_token.get_secret_value().strip()
        else:
            return None
        problem = token_problem(token)
        if problem is not None:
            raise WeakAdminTokenError(f"the admin token is refused: {problem}")
        return token

    def problems(self) -> list[tuple[str, str]]:
        """``(variable, what is wrong)`` for what pydantic cannot check: the admin token."""
        try:
            self.admin_token_value()
        except WeakAdminTokenError as exc:
            variable = "ADMIN_TOKEN_FILE" if self.admin_token_file is not None else "ADMIN_TOKEN"
            return [(f"LOADGEN_{variable}", str(exc))]
        return []


def configuration_problems() -> tuple[LoadSettings | None, list[str]]:
    """The settings, or one line per invalid setting naming its variable (never a value)."""
    try:
        settings = LoadSettings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "LOADGEN_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        return None, lines
    return settings, [f"{name}: {message}" for name, message in settings.problems()]


@dataclass(frozen=True)
class Traffic:
    """What the load generator does right now."""

    profile: str
    flows_per_second: float
    concurrency: int
    bad_request_share: float
    unreadable_share: float
    canary_share: float

    @classmethod
    def from_settings(cls, settings: LoadSettings) -> Traffic:
        return cls(
            profile="default",
            flows_per_second=settings.flows_per_second,
            concurrency=settings.concurrency,
            bad_request_share=settings.bad_request_share,
            unreadable_share=settings.unreadable_share,
            canary_share=settings.canary_share if settings.canary_url else 0.0,
        )


class TrafficControl:
    """Follows the traffic profile on the api's admin endpoint (see the module docstring)."""

    def __init__(self, settings: LoadSettings) -> None:
        self.default = Traffic.from_settings(settings)
        self.current = self.default
        self.token = settings.admin_token_value()
        self.has_canary = settings.canary_url is not None
        self.enabled = self.token is not None

    def apply(self, answer: dict[str, Any]) -> Traffic:
        """The traffic for an answer of ``GET /admin/traffic`` (null fields: the default)."""
        changes: dict[str, Any] = {"profile": answer.get("profile") or "default"}
        for name, kind in (
            ("flows_per_second", float),
            ("concurrency", int),
            ("bad_request_share", float),
            ("unreadable_share", float),
            ("canary_share", float),
        ):
            value = answer.get(name)
            if value is not None:
                changes[name] = kind(value)
        traffic = replace(self.default, **changes)
        if not self.has_canary:
            traffic = replace(traffic, canary_share=0.0)
        if traffic != self.current:
            log.info("loadgen.traffic", **vars(traffic))
        self.current = traffic
        return traffic

    async def poll_once(self, client: httpx.AsyncClient) -> Traffic:
        if not self.enabled:
            return self.current
        try:
            response = await client.get(
                "/admin/traffic", headers={"Authorization": f"Bearer {self.token}"}
            )
        except httpx.HTTPError as exc:
            log.warning("loadgen.control_unreachable", error=type(exc).__name__)
            return self.current
        if response.status_code == 404:
            log.warning("loadgen.control_off", reason="the api has no admin endpoint")
            self.enabled = False
            return self.current
        if response.status_code != 200:
            log.warning("loadgen.control_refused", status_code=response.status_code)
            return self.current
        return self.apply(response.json())


def pdf(text: str, *, encrypted: bool = False) -> bytes:
    trailer = b"/Encrypt 5 0 R\n" if encrypted else b""
    return b"%PDF-1.4\n(" + text.encode() + b")\n" + trailer + b"%%EOF\n"


class Flow:
    def __init__(self, client: httpx.AsyncClient, rng: random.Random, traffic: Traffic):
        self.client = client
        self.rng = rng
        self.traffic = traffic
        self.outcomes: Counter[str] = Counter()

    async def _call(self, method: str, url: str, **kwargs: object) -> httpx.Response | None:
        try:
            response = await self.client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.outcomes[f"error:{type(exc).__name__}"] += 1
            return None
        self.outcomes[str(response.status_code)] += 1
        return response

    async def run(self) -> None:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{rng.randrange(10**6)}@example.com".lower()
        product = rng.choice(("credit", "mortgage"))
        if rng.random() < 0.3:
            created = await self._call(
                "POST",
                "/api/v2/applications",
                json={
                    "applicant": {"first_name": first, "last_name": last, "email": email},
                    "loan": {
                        "product": product,
                        "amount": {"value": f"{rng.randrange(1, 900)}000.00"},
                    },
                },
            )
            if created is None or created.status_code != 201:
                return
            body = created.json()
            application_id, token = body["application"]["id"], body["credentials"]["token"]
        else:
            created = await self._call(
                "POST",
                "/api/v1/applications",
                json={
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "product": product,
                    "amount": rng.randrange(1, 900) * 1000,
                },
            )
            if created is None or created.status_code != 201:
                return
            application_id, token = created.json()["id"], created.json()["token"]

        path = f"/api/v1/applications/{application_id}"
        auth = {"Authorization": f"Bearer {token}"}
        if rng.random() < self.traffic.bad_request_share:
            await self._bad_requests(path, auth)
        year = datetime.now(UTC).year
        await self._call(
            "PUT",
            f"{path}/personal-details",
            headers=auth,
            json={
                "date_of_birth": date(
                    rng.randrange(1950, 2000), rng.randrange(1, 13), 15
                ).isoformat(),
                "place_of_birth": rng.choice(CITIES),
                "nationality": "DE",
            },
        )
        await self._call(
            "PUT",
            f"{path}/current-address",
            headers=auth,
            json={
                "street": "Musterstraße",
                "house_number": str(rng.randrange(1, 200)),
                "postcode": f"{rng.randrange(10000, 99999)}",
                "city": rng.choice(CITIES),
                "country": "DE",
            },
        )
        await self._call(
            "POST",
            f"{path}/documents",
            headers=auth,
            files={"file": ("passport.pdf", pdf("Reisepass / Passport"), "application/pdf")},
            data={"kind": "id"},
        )
        unreadable = rng.random() < self.traffic.unreadable_share
        form_year = year - rng.choice((1, 1, 1, 0, 3))  # a few too old: rejected for recency
        await self._call(
            "POST",
            f"{path}/documents",
            headers=auth,
            files={
                "file": (
                    "tax-return.pdf",
                    pdf(f"Einkommensteuer tax return. Tax year: {form_year}", encrypted=unreadable),
                    "application/pdf",
                )
            },
            data={"kind": "fiscal"},
        )
        await self._call("GET", path, headers=auth)
        await self._call("POST", f"{path}/invite", headers=auth)

    async def _bad_requests(self, path: str, auth: dict[str, str]) -> None:
        choice = self.rng.randrange(5)
        if choice == 0:
            await self._call("GET", f"/api/v1/no-such-thing/{self.rng.randrange(10**9)}")
        elif choice == 1:
            await self._call(
                "POST",
                "/api/v1/applications",
                content=b'{"first_name": ',
                headers={"Content-Type": "application/json"},
            )
        elif choice == 2:
            await self._call("GET", path)  # no token: 401
        elif choice == 3:
            await self._call(
                "GET", "/api/v1/applications/00000000-0000-4000-8000-000000000000", headers=auth
            )
        else:
            await self._call(
                "POST",
                f"{path}/documents",
                headers=auth,
                files={"file": ("notes.txt", b"hello", "text/plain")},
                data={"kind": "id"},
            )


async def run(
    settings: LoadSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    canary_transport: httpx.AsyncBaseTransport | None = None,
) -> Counter[str]:
    """Drive traffic until stopped; ``transport``s are for tests (in-process apps)."""
    rng = random.Random(settings.seed)  # noqa: S311 - traffic shapes, not secrets
    totals: Counter[str] = Counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    deadline = time.monotonic() + settings.duration_seconds if settings.duration_seconds else None
    control = TrafficControl(settings)
    tasks: set[asyncio.Task[None]] = set()

    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=str(settings.api_url), timeout=15.0, transport=transport)
        )
        canary = None
        if settings.canary_url is not None:
            canary = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=str(settings.canary_url), timeout=15.0, transport=canary_transport
                )
            )

        async def one_flow(traffic: Traffic) -> None:
            to_canary = canary is not None and rng.random() < traffic.canary_share
            target = canary if to_canary and canary is not None else client
            flow = Flow(target, random.Random(rng.random()), traffic)  # noqa: S311
            await flow.run()
            totals.update(flow.outcomes)
            if target is canary:
                totals["flows:canary"] += 1

        async def follow_control() -> None:
            while not stop.is_set():
                await control.poll_once(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=settings.control_interval_seconds)

        poller = asyncio.create_task(follow_control())
        last_report = time.monotonic()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            traffic = control.current
            # In-flight flows are bounded: a slow api slows the flows down instead of piling
            # up tasks in memory (skipped ticks are counted).
            if len(tasks) < traffic.concurrency:
                task = asyncio.create_task(one_flow(traffic))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                totals["flows:skipped"] += 1
            if time.monotonic() - last_report > 30:
                log.info("loadgen.progress", profile=traffic.profile, responses=dict(totals))
                last_report = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0 / traffic.flows_per_second)
        stop.set()
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        if tasks:
            await asyncio.wait(tasks, timeout=20)
    log.info("loadgen.done", responses=dict(totals))
    return totals


def main() -> int:
    settings, problems = configuration_problems()
    if settings is None or problems:
        # As the services' command line does (servicekit.cli): exit 2, one line per setting.
        print("loadgen: the configuration is not valid:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()]
    )
    log.info(
        "loadgen.start", api_url=str(settings.api_url), flows_per_second=settings.flows_per_second
    )
    asyncio.run(run(settings))
    return 0

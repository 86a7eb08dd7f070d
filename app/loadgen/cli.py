"""``loadgen``: drive the api at a steady rate until stopped (or for a set duration).

Environment: LOADGEN_API_URL (http://127.0.0.1:8000), LOADGEN_FLOWS_PER_SECOND (1.0),
LOADGEN_CONCURRENCY (4), LOADGEN_DURATION_SECONDS (0 = until stopped),
LOADGEN_BAD_REQUEST_SHARE (0.1), LOADGEN_UNREADABLE_SHARE (0.05), LOADGEN_SEED (none).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import Counter
from datetime import UTC, date, datetime

import httpx
import structlog
from pydantic import Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

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


def pdf(text: str, *, encrypted: bool = False) -> bytes:
    trailer = b"/Encrypt 5 0 R\n" if encrypted else b""
    return b"%PDF-1.4\n(" + text.encode() + b")\n" + trailer + b"%%EOF\n"


class Flow:
    def __init__(self, client: httpx.AsyncClient, rng: random.Random, settings: LoadSettings):
        self.client = client
        self.rng = rng
        self.settings = settings
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
        if rng.random() < self.settings.bad_request_share:
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
        unreadable = rng.random() < self.settings.unreadable_share
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


async def run(settings: LoadSettings) -> Counter[str]:
    rng = random.Random(settings.seed)  # noqa: S311 - traffic shapes, not secrets
    totals: Counter[str] = Counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    deadline = time.monotonic() + settings.duration_seconds if settings.duration_seconds else None
    semaphore = asyncio.Semaphore(settings.concurrency)
    interval = 1.0 / settings.flows_per_second
    tasks: set[asyncio.Task[None]] = set()

    async with httpx.AsyncClient(base_url=str(settings.api_url), timeout=15.0) as client:

        async def one_flow() -> None:
            async with semaphore:
                flow = Flow(client, random.Random(rng.random()), settings)  # noqa: S311
                await flow.run()
                totals.update(flow.outcomes)

        last_report = time.monotonic()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            task = asyncio.create_task(one_flow())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if time.monotonic() - last_report > 30:
                log.info("loadgen.progress", responses=dict(totals))
                last_report = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
        if tasks:
            await asyncio.wait(tasks, timeout=20)
    log.info("loadgen.done", responses=dict(totals))
    return totals


def main() -> int:
    settings = LoadSettings()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()]
    )
    log.info(
        "loadgen.start", api_url=str(settings.api_url), flows_per_second=settings.flows_per_second
    )
    asyncio.run(run(settings))
    return 0

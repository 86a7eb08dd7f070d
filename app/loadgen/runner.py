"""The run loop: start flows at the current rate, bounded in flight, until stopped.

SIGINT/SIGTERM or LOADGEN_DURATION_SECONDS stop it; in-flight flows get 20 s to finish. The
traffic profile is polled beside the loop (``loadgen.control``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import Counter

import httpx
import structlog

from loadgen.control import Traffic, TrafficControl
from loadgen.flow import Flow
from loadgen.settings import LoadSettings

log = structlog.get_logger("loadgen")


async def run(
    settings: LoadSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    canary_transport: httpx.AsyncBaseTransport | None = None,
) -> Counter[str]:
    """Drive traffic until stopped; ``transport``s are for tests (in-process apps)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
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
        totals = await _Run(settings, client, canary, stop).until_stopped()
    log.info("loadgen.done", responses=dict(totals))
    return totals


class _Run:
    """One run: flows started at the traffic profile's rate, the profile polled beside them."""

    def __init__(
        self,
        settings: LoadSettings,
        client: httpx.AsyncClient,
        canary: httpx.AsyncClient | None,
        stop: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.client = client
        self.canary = canary
        self.stop = stop
        self.rng = random.Random(settings.seed)  # noqa: S311 - traffic shapes, not secrets
        self.control = TrafficControl(settings)
        self.totals: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()

    async def until_stopped(self) -> Counter[str]:
        """Start flows until SIGINT/SIGTERM or the duration; in-flight ones get 20 s to end."""
        poller = asyncio.create_task(self._follow_control())
        try:
            await self._start_flows()
        finally:
            self.stop.set()
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=20)
        return self.totals

    async def _start_flows(self) -> None:
        duration = self.settings.duration_seconds
        deadline = time.monotonic() + duration if duration else None
        last_report = time.monotonic()
        while not self.stop.is_set() and (deadline is None or time.monotonic() < deadline):
            traffic = self.control.current
            # In-flight flows are bounded: a slow api slows the flows down instead of piling
            # up tasks in memory (skipped ticks are counted).
            if len(self.tasks) < traffic.concurrency:
                task = asyncio.create_task(self._one_flow(traffic))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                self.totals["flows:skipped"] += 1
            if time.monotonic() - last_report > 30:
                log.info("loadgen.progress", profile=traffic.profile, responses=dict(self.totals))
                last_report = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=1.0 / traffic.flows_per_second)

    async def _one_flow(self, traffic: Traffic) -> None:
        to_canary = self.canary is not None and self.rng.random() < traffic.canary_share
        target = self.canary if to_canary and self.canary is not None else self.client
        flow = Flow(target, random.Random(self.rng.random()), traffic)  # noqa: S311
        await flow.run()
        self.totals.update(flow.outcomes)
        if target is self.canary:
            self.totals["flows:canary"] += 1

    async def _follow_control(self) -> None:
        while not self.stop.is_set():
            await self.control.poll_once(self.client)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.stop.wait(), timeout=self.settings.control_interval_seconds
                )

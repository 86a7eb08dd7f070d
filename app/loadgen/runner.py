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

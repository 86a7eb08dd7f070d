"""Trainer scenarios that act on the api's dependencies: a slow database, a slow or unreachable
tagger. They sit at the edges (the engine's events, a wrapper around the tagger client, both put
in place by the composition root), so the business modules never know about them.

``slow-db``
    every SQL statement takes longer: just before the statement goes to the driver, the
    connection waits (``await_only`` on ``asyncio.sleep`` inside SQLAlchemy's greenlet: the
    event loop keeps serving). The statement's span (OpenTelemetry SQLAlchemy instrumentation)
    has already started, so it is that much longer and carries ``scenario.name``.
``tagger``
    ``unreachable``: the call fails the way a refused connection does (``TaggerError``
    ``unavailable``); ``slow``: the call waits ``delay_ms`` first, inside the api's own tagger
    budget (``TAGGER_TIMEOUT_SECONDS``), so a delay beyond it ends in the ``timeout`` failure.
    Either way the document ends ``tagging_failed`` and the ``documents.tag`` span says why.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from loan_api.container import Container
from loan_api.documents.client import TaggerClient, TaggerError
from loan_api.documents.schemas import DocumentKind, Tags
from servicekit.trainer.middleware import jittered_seconds
from servicekit.trainer.registry import ScenarioRegistry, annotate
from servicekit.trainer.scenarios import SlowDbParams, TaggerParams, describe

API_SCENARIOS = ("latency", "errors", "exceptions", "slow-db", "tagger")


class ScenarioTaggerClient:
    """A ``TaggerClient`` that lets the ``tagger`` scenario fail or slow down its calls."""

    def __init__(
        self, inner: TaggerClient, scenarios: ScenarioRegistry, *, timeout_seconds: float
    ) -> None:
        self.inner = inner
        self.scenarios = scenarios
        self.timeout_seconds = timeout_seconds

    async def tag(self, *, content: bytes, content_type: str, kind: DocumentKind) -> Tags:
        active = self.scenarios.get("tagger")
        if active is None:
            return await self.inner.tag(content=content, content_type=content_type, kind=kind)
        params = active.params
        assert isinstance(params, TaggerParams)
        annotate("tagger", describe("tagger", params), level="warning", mode=params.mode)
        if params.mode == "unreachable":
            raise TaggerError(
                "unavailable", "tagger unreachable: ConnectError (trainer scenario tagger)"
            )
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await asyncio.sleep(params.delay_ms / 1000)
                return await self.inner.tag(content=content, content_type=content_type, kind=kind)
        except TimeoutError as exc:
            raise TaggerError(
                "timeout", "tagger timed out: ReadTimeout (trainer scenario tagger)"
            ) from exc

    async def aclose(self) -> None:
        await self.inner.aclose()


def install_slow_queries(engine: AsyncEngine, scenarios: ScenarioRegistry) -> None:
    def delay_statement(
        _conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: Any
    ) -> None:
        active = scenarios.get("slow-db")
        if active is None:
            return
        params = active.params
        assert isinstance(params, SlowDbParams)
        seconds = jittered_seconds(params.delay_ms, params.jitter_ms)
        # The span of this statement, opened by the contrib SQLAlchemy instrumentation's own
        # before_cursor_execute listener (added earlier, so it ran first) and kept on the
        # execution context until after_cursor_execute ends it.
        span = getattr(context, "_otel_span", None)
        annotate(
            "slow-db",
            describe("slow-db", params),
            span=span,
            level="debug",
            delay_ms=round(seconds * 1000, 1),
        )
        await_only(asyncio.sleep(seconds))

    # Listeners run in the order they were added: call this after instrument_sqlalchemy, so the
    # statement's span is open while the statement waits.
    event.listen(engine.sync_engine, "before_cursor_execute", delay_statement)


def install_faults(container: Container, scenarios: ScenarioRegistry) -> None:
    """Put the dependency scenarios in place on a freshly built container (after the engine is
    instrumented)."""
    container.tagger = ScenarioTaggerClient(
        container.tagger,
        scenarios,
        timeout_seconds=container.settings.tagger_timeout_seconds,
    )
    install_slow_queries(container.engine, scenarios)

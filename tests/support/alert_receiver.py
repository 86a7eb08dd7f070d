"""The alert receiver in-process over HTTP: a fresh registry, its JSON log lines on a stream of
the test's own, and (telemetry tier) in-memory span and log exporters."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from alert_receiver.config import ReceiverSettings
from alert_receiver.main import NOTIFICATIONS_PATH, SERVICE_NAME, create_app
from loan_desk_telemetry import Telemetry, configure_logging
from tests.support.asgi import serving

EVENT = "alert.notification"


@dataclass
class Receiver:
    client: httpx.AsyncClient
    registry: CollectorRegistry
    stdout: io.StringIO

    async def post(self, document: Any) -> httpx.Response:
        return await self.client.post(NOTIFICATIONS_PATH, json=document)

    async def post_raw(
        self, content: bytes, media_type: str = "application/json"
    ) -> httpx.Response:
        headers = {"Content-Type": media_type} if media_type else {}
        return await self.client.post(NOTIFICATIONS_PATH, content=content, headers=headers)

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON line logged so far (and forgets them)."""
        text = self.stdout.getvalue()
        self.stdout.seek(0)
        self.stdout.truncate()
        return [json.loads(line) for line in text.splitlines()]

    def alerts_counted(self, status: str, severity: str) -> float:
        value = self.registry.get_sample_value(
            "alert_receiver_alerts_total", {"status": status, "severity": severity}
        )
        return value or 0.0


@asynccontextmanager
async def running_receiver(
    *, telemetry: Telemetry | None = None, **settings: Any
) -> AsyncIterator[Receiver]:
    registry = CollectorRegistry()
    app = create_app(
        ReceiverSettings(log_format="json", **settings), registry=registry, telemetry=telemetry
    )
    # After the app's own logging set-up: its lines come to this stream instead of stdout.
    stdout = io.StringIO()
    configure_logging(service_name=SERVICE_NAME, fmt="json", stream=stdout)
    async with serving(app, "http://alert-receiver") as client:
        yield Receiver(client, registry, stdout)

"""An ASGI app served in-process: its lifespan run, an httpx client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan (startup on entry, shutdown on exit)."""
    async with app.router.lifespan_context(app):
        yield


@asynccontextmanager
async def serving(app: FastAPI, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app running, and a client that reaches it over ASGI; the app's unhandled exceptions
    become 500 answers, as uvicorn's would."""
    async with (
        running(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=base_url
        ) as client,
    ):
        yield client

from __future__ import annotations

from doc_tagger.main import create_app as create_tagger_app
from tests.support.asgi import serving
from tests.support.in_process import Api, api_client


async def test_api_probes(api: Api) -> None:
    assert (await api.client.get("/health/live")).json() == {"status": "ok"}
    assert (await api.client.get("/health/ready")).json() == {"status": "ok"}


async def test_api_not_ready_without_its_database() -> None:
    # A PostgreSQL server that is not there: nothing listens on port 1 of the loopback.
    url = "postgresql+asyncpg://loan:unused@127.0.0.1:1/loan"
    async with api_client(url) as api:
        assert (await api.client.get("/health/live")).status_code == 200
        response = await api.client.get("/health/ready")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"


async def test_tagger_probes() -> None:
    app = create_tagger_app()
    async with serving(app, "http://tagger") as client:
        assert (await client.get("/health/live")).json() == {"status": "ok"}
        assert (await client.get("/health/ready")).json() == {"status": "ok"}

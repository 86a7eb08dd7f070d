"""Client of the external tagger service (``doc-tagger``), over HTTP with httpx.

Timeouts are explicit (a short connect timeout, an overall budget), connection errors are retried
once by the transport, and every failure becomes a ``TaggerError`` with a bounded ``reason``
(``timeout``, ``unavailable``, ``rejected``, ``bad_response``) that the service records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import httpx
from pydantic import ValidationError

from loan_api.documents.schemas import DocumentKind, Tags

if TYPE_CHECKING:
    from loan_api.config import Settings

TAG_PATH = "/api/v1/tags"
# The tagger's verdict on a document it cannot read; any other 4xx is a fault of this client.
UNREADABLE_TYPE = "urn:loan-desk:problem:unreadable"


class TaggerError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def unreadable(self) -> bool:
        """The tagger cannot read the document: a verdict on it, not the tagger's failure."""
        return self.reason == "rejected"


class TaggerClient(Protocol):
    async def tag(self, *, content: bytes, content_type: str, kind: DocumentKind) -> Tags: ...

    async def aclose(self) -> None: ...


class HttpTaggerClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpTaggerClient:
        timeout = httpx.Timeout(
            settings.tagger_timeout_seconds, connect=settings.tagger_connect_timeout_seconds
        )
        client = httpx.AsyncClient(
            base_url=str(settings.tagger_url),
            timeout=timeout,
            transport=httpx.AsyncHTTPTransport(retries=1),  # connect errors only
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )
        return cls(client)

    @property
    def http_client(self) -> httpx.AsyncClient:
        return self._client

    async def tag(self, *, content: bytes, content_type: str, kind: DocumentKind) -> Tags:
        try:
            response = await self._client.post(
                TAG_PATH,
                content=content,
                headers={"Content-Type": content_type, "X-Document-Kind": kind.value},
            )
        except httpx.TimeoutException as exc:
            raise TaggerError("timeout", f"tagger timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TaggerError("unavailable", f"tagger unreachable: {type(exc).__name__}") from exc
        if response.status_code == 422 and _problem_type(response) == UNREADABLE_TYPE:
            raise TaggerError("rejected", "tagger could not read the document")
        if response.status_code >= 500:
            raise TaggerError("unavailable", f"tagger answered {response.status_code}")
        if response.status_code != 200:
            raise TaggerError("bad_response", f"tagger answered {response.status_code}")
        try:
            return Tags.model_validate_json(response.content)
        except ValidationError as exc:
            raise TaggerError("bad_response", "tagger answer failed validation") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None

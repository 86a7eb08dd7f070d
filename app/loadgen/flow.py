"""One applicant's walk through the api (see the package docstring), and its bad requests.

A flow counts the answers it got by status code (``error:<exception>`` when there was none);
it never raises for an answer the api gives.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime

import httpx

from loadgen.control import Traffic

FIRST_NAMES = ("Anna", "Ben", "Chiara", "Deniz", "Emil", "Farah", "Greta", "Hugo")
LAST_NAMES = ("Schulze", "Rossi", "Novak", "Yilmaz", "Berg", "Costa", "Meyer")
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Leipzig")


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
        """Create an application, sometimes send bad requests, then fill it in, upload an ID and
        a tax return, read it back and send the invite. Stops early when creating fails."""
        created = await self._create_application()
        if created is None:
            return
        application_id, token = created
        path = f"/api/v1/applications/{application_id}"
        auth = {"Authorization": f"Bearer {token}"}
        if self.rng.random() < self.traffic.bad_request_share:
            await self._bad_requests(path, auth)
        await self._fill_in(path, auth)
        await self._upload_documents(path, auth)
        await self._call("GET", path, headers=auth)
        await self._call("POST", f"{path}/invite", headers=auth)

    async def _create_application(self) -> tuple[str, str] | None:
        """``(application id, token)``, through v2 for about a third of the flows, else v1;
        None when the api did not create it."""
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{rng.randrange(10**6)}@example.com".lower()
        product = rng.choice(("credit", "mortgage"))
        if rng.random() < 0.3:
            applicant = {"first_name": first, "last_name": last, "email": email}
            amount = {"value": f"{rng.randrange(1, 900)}000.00"}
            created = await self._call(
                "POST",
                "/api/v2/applications",
                json={"applicant": applicant, "loan": {"product": product, "amount": amount}},
            )
            if created is None or created.status_code != 201:
                return None
            body = created.json()
            return body["application"]["id"], body["credentials"]["token"]
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
            return None
        body = created.json()
        return body["id"], body["token"]

    async def _fill_in(self, path: str, auth: dict[str, str]) -> None:
        """Personal details and the current address."""
        rng = self.rng
        born = date(rng.randrange(1950, 2000), rng.randrange(1, 13), 15)
        await self._call(
            "PUT",
            f"{path}/personal-details",
            headers=auth,
            json={
                "date_of_birth": born.isoformat(),
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

    async def _upload_documents(self, path: str, auth: dict[str, str]) -> None:
        """A passport, then a tax return: a few are encrypted (the tagger cannot read them) and
        a few too old (rejected for recency)."""
        await self._upload(path, auth, "id", "passport.pdf", pdf("Reisepass / Passport"))
        unreadable = self.rng.random() < self.traffic.unreadable_share
        form_year = datetime.now(UTC).year - self.rng.choice((1, 1, 1, 0, 3))
        text = f"Einkommensteuer tax return. Tax year: {form_year}"
        await self._upload(path, auth, "fiscal", "tax-return.pdf", pdf(text, encrypted=unreadable))

    async def _upload(
        self, path: str, auth: dict[str, str], kind: str, filename: str, content: bytes
    ) -> None:
        await self._call(
            "POST",
            f"{path}/documents",
            headers=auth,
            files={"file": (filename, content, "application/pdf")},
            data={"kind": kind},
        )

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

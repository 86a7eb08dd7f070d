"""The contract tier's fuzzing: schemathesis's configuration (bounds, seed, hostile text), the
requests counted per service, and the applications the api's fuzzing is aimed at."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import schemathesis
from schemathesis import Case

from tests.support.documents import pdf
from tests.support.flows import ADDRESS, PERSONAL_DETAILS, application_body
from tests.support.services import Service, base_env

# Bounds of the fuzz run (README, Tests): examples per operation in the fuzzing phase, on top of
# the coverage phase's deterministic boundary and negative cases. A fixed seed keeps CI
# reproducible; CONTRACT_SEED=<int> explores another part of the input space.
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "40"))
SEED = int(os.environ.get("CONTRACT_SEED", "20260821"))

# Requests sent and seconds spent per fuzzed service, for the summary at the end of the run
# (tests/contract/conftest.py prints it).
REQUESTS: Counter[str] = Counter()
SECONDS: defaultdict[str, float] = defaultdict(float)


def call_and_validate(case: Case, checks: list[Any], *, counted_as: str) -> None:
    """``case.call_and_validate`` with the request counted under ``counted_as``."""
    started = time.monotonic()
    try:
        case.call_and_validate(checks=checks)
    finally:
        REQUESTS[counted_as] += 1
        SECONDS[counted_as] += time.monotonic() - started


def summary_lines() -> list[str]:
    return [
        f"{name}: {REQUESTS[name]} requests in {SECONDS[name]:.1f} s" for name in sorted(REQUESTS)
    ]


# Text a hostile client sends and random generation rarely hits: NUL (PostgreSQL cannot store
# it; it was a 500 there) and other controls, and the letters, marks and joiners of real names,
# which must pass. Negative cases draw the entries that break
# a field's schema, positive cases those that fit it.
HOSTILE_TEXT = [
    "Ste\x00ve",
    "\x00",
    "Ste\x1bve",
    "Ste\nve",
    "Ste\x7fve",
    "Ste\x85ve",
    "Zo\u00eb \u00d1\u00fa\u00f1ez-O'Brien",
    "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627",
    "1e5",
    "0001-01-01",
]
FREE_TEXT_FIELDS = (
    "first_name",
    "last_name",
    "applicant.first_name",
    "applicant.last_name",
    "place_of_birth",
    "street",
    "house_number",
    "postcode",
    "city",
)


def fuzz_config() -> schemathesis.Config:
    """Positive and negative inputs, coverage and fuzzing phases, no example database on disk."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "dictionaries": {"hostile": {"values": HOSTILE_TEXT}},
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "database": "none",
                "dictionaries": {"string": {"dictionary": "hostile", "probability": 0.2}},
            },
            # The type-wide binding above reaches parameters only; body fields are named.
            "parameters": {
                f"body.{field}": {"dictionary": "hostile", "probability": 0.3}
                for field in FREE_TEXT_FIELDS
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "request-timeout": 15,
        }
    )


def service_env(**extra: str) -> dict[str, str]:
    """A fuzzed service's environment: telemetry export off (this tier tests the HTTP
    contract), JSON logs, warnings and up only."""
    return base_env() | {
        "OTEL_SDK_DISABLED": "true",
        "APP_ENV": "test",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@dataclass(frozen=True)
class Owned:
    """An application the run created, its token, and one of its documents."""

    id: str
    token: str
    document_id: str


@dataclass(frozen=True)
class ApiTarget:
    service: Service
    database_kind: str
    draft: Owned  # created only; its document is an unreadable PDF (rejected)
    complete: Owned  # details, address and a tagged document: ready for the invite

    def aim(self, case: Case) -> None:
        """Point an operation on an application at one this run owns, with its token.

        Random ids would only ever meet 403. The generated ``application_id`` picks, stably for
        shrinking, one of four callers: the draft's owner, the complete application's owner, the
        complete application's owner asking for the draft (403), nobody (401). A generated
        ``document_id`` becomes the owner's document half of the time. Ids that are not UUIDs
        (negative cases) stay as they are: the 422 is what is being tested.
        """
        parameters = case.path_parameters
        if parameters is None or "application_id" not in parameters:
            return
        picked = _as_uuid(parameters["application_id"])
        headers = {
            name: value
            for name, value in (case.headers or {}).items()
            if name.lower() != "authorization"
        }
        if picked is None:
            headers["Authorization"] = f"Bearer {self.draft.token}"
            case.headers = headers
            return
        owner, token = [
            (self.draft, self.draft.token),
            (self.complete, self.complete.token),
            (self.draft, self.complete.token),
            (self.draft, None),
        ][picked.int % 4]
        parameters["application_id"] = owner.id
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        case.headers = headers
        document = _as_uuid(parameters.get("document_id"))
        if document is not None and document.int % 2 == 0:
            parameters["document_id"] = owner.document_id


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def own_application(client: httpx.Client, *, complete: bool) -> Owned:
    """A draft (an unreadable PDF, rejected) or a complete application, made over ``client``."""
    created = client.post("/api/v1/applications", json=application_body())
    assert created.status_code == 201, created.text
    body = created.json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    path = f"/api/v1/applications/{body['id']}"
    content = pdf("Reisepass / Passport", encrypted=not complete)
    if complete:
        for step, data in (("personal-details", PERSONAL_DETAILS), ("current-address", ADDRESS)):
            response = client.put(f"{path}/{step}", json=data, headers=headers)
            assert response.status_code == 200, response.text
    upload = client.post(
        f"{path}/documents",
        headers=headers,
        files={"file": ("passport.pdf", content, "application/pdf")},
        data={"kind": "id"},
    )
    assert upload.status_code == (201 if complete else 422), upload.text
    document = upload.json()
    document_id = document["id"] if complete else document["document_id"]
    return Owned(id=body["id"], token=body["token"], document_id=document_id)

"""Contract fixtures: both services as real uvicorn processes, their OpenAPI documents loaded by
schemathesis, and the api's fuzzing aimed at applications this run owns.

The api runs on SQLite and on PostgreSQL (``database_kind``, as in the integration tier: the
PostgreSQL half needs ``TEST_POSTGRES_URL``, skips locally without it and fails under
``CI=true``); it calls the real tagger over HTTP. Telemetry export is off: this tier tests the
HTTP contract.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case

from loan_api.migrate import upgrade
from tests.integration.conftest import database_factory, database_kind  # noqa: F401 - fixtures
from tests.support.documents import pdf
from tests.support.flows import ADDRESS, PERSONAL_DETAILS, application_body
from tests.support.services import Service, base_env, start_service

# Bounds of the fuzz run (README, Tests): examples per operation in the fuzzing phase, on top of
# the coverage phase's deterministic boundary and negative cases. A fixed seed keeps CI
# reproducible; CONTRACT_SEED=<int> explores another part of the input space.
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "40"))
SEED = int(os.environ.get("CONTRACT_SEED", "20260821"))


# Requests sent and seconds spent per fuzzed service, for the summary at the end of the run.
REQUESTS: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REQUESTS:
        terminalreporter.write_sep("-", "contract fuzzing")
        for name in sorted(REQUESTS):
            terminalreporter.write_line(
                f"{name}: {REQUESTS[name]} requests in {SECONDS[name]:.1f} s"
            )


def call_and_validate(case: Case, checks: list[Any], *, counted_as: str) -> None:
    """``case.call_and_validate`` with the request counted under ``counted_as``."""
    started = time.monotonic()
    try:
        case.call_and_validate(checks=checks)
    finally:
        REQUESTS[counted_as] += 1
        SECONDS[counted_as] += time.monotonic() - started


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis 4.32.5's ``from_fixture`` tests read and rename ``item._nodeid``, which
    pytest 9.2 no longer has (node ids moved to ``_id``): give them the attribute to work on."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid  # type: ignore[attr-defined]


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


def _service_env(**extra: str) -> dict[str, str]:
    return base_env() | {
        "OTEL_SDK_DISABLED": "true",
        "APP_ENV": "test",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _started(service: Service) -> Service:
    try:
        service.wait_ready()
    except BaseException:
        service.stop()
        raise
    return service


@pytest.fixture(scope="session")
def tagger_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = _started(
        start_service(
            "doc-tagger",
            name="tagger",
            env=_service_env(),
            log_dir=tmp_path_factory.mktemp("contract-tagger"),
        )
    )
    yield service
    service.stop()


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


def _own_application(client: httpx.Client, *, complete: bool) -> Owned:
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


@pytest.fixture(scope="session")
def api_target(
    database_kind: str,  # noqa: F811 - the imported fixture
    database_factory: Callable[[str], str],  # noqa: F811
    tagger_service: Service,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiTarget]:
    database_url = database_factory(database_kind)
    upgrade(database_url)
    log_dir: Path = tmp_path_factory.mktemp(f"contract-api-{database_kind}")
    service = _started(
        start_service(
            "loan-api",
            name="api",
            env=_service_env(DATABASE_URL=database_url, TAGGER_URL=tagger_service.url),
            log_dir=log_dir,
        )
    )
    try:
        with service.client() as client:
            target = ApiTarget(
                service=service,
                database_kind=database_kind,
                draft=_own_application(client, complete=False),
                complete=_own_application(client, complete=True),
            )
        yield target
    finally:
        service.stop()


@pytest.fixture(scope="session")
def api_openapi(api_target: ApiTarget) -> Any:
    return schemathesis.openapi.from_url(
        f"{api_target.service.url}/openapi.json", config=fuzz_config()
    )


@pytest.fixture(scope="session")
def tagger_openapi(tagger_service: Service) -> Any:
    return schemathesis.openapi.from_url(f"{tagger_service.url}/openapi.json", config=fuzz_config())

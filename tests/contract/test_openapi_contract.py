"""Both services hold to their own OpenAPI documents under a schema-driven fuzzer (schemathesis).

Every operation of each document gets the coverage phase's boundary and negative cases and
``MAX_EXAMPLES`` generated ones (tests/support/contract.py); every answer must pass the four
checks below. Any finding fails the test with the request that caused it (schemathesis prints a
curl line).
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.contract import ApiTarget, call_and_validate
from tests.support.documents import pdf
from tests.support.services import Service

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# The tagger's PDF body: schemathesis has no generator for application/pdf. Text a keyword rule
# matches or not, some of it encrypted (the tagger's 422), and bytes that are no PDF at all.
schemathesis.openapi.media_type(
    "application/pdf",
    st.one_of(
        st.builds(
            pdf,
            st.text(max_size=200),
            encrypted=st.booleans(),
        ),
        st.binary(max_size=200),
    ),
)

api = schemathesis.pytest.from_fixture("api_openapi")
tagger = schemathesis.pytest.from_fixture("tagger_openapi")


@api.parametrize()
def test_api_honours_its_openapi_document(case: Case, api_target: ApiTarget) -> None:
    api_target.aim(case)
    call_and_validate(case, CHECKS, counted_as=f"api on {api_target.database_kind}")


@tagger.parametrize()
def test_tagger_honours_its_openapi_document(case: Case, tagger_service: Service) -> None:
    call_and_validate(case, CHECKS, counted_as="tagger")

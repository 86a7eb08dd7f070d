from __future__ import annotations

import pytest

from loan_desk_telemetry import REDACTED, SENSITIVE_KEYS, is_sensitive_key, redact
from loan_desk_telemetry._redaction import redact_attributes, redact_query, redact_url


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "http.request.header.authorization",
        "x-api-key",
        "token",
        "applicant.date_of_birth",
        "email",
        "iban",
        "fiscal_code",
        "street",
        "password",
        "secret",
    ],
)
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["item_id", "route", "document.kind", "token_count_x", "path"])
def test_ordinary_keys(key: str) -> None:
    assert not is_sensitive_key(key)


def test_one_list_holds_the_issue_examples() -> None:
    assert {"authorization", "token", "password", "secret", "date_of_birth", "email"} <= (
        SENSITIVE_KEYS
    )


def test_redact_walks_nested_mappings_and_lists() -> None:
    data = {
        "id": 3,
        "applicant": {"email": "a@b.c", "name": "x", "addresses": [{"street": "Via Roma 1"}]},
        "password": "hunter2",
    }
    assert redact(data) == {
        "id": 3,
        "applicant": {"email": REDACTED, "name": "x", "addresses": [{"street": REDACTED}]},
        "password": REDACTED,
    }
    assert data["password"] == "hunter2"  # a copy, the input is untouched


def test_query_and_url_redaction() -> None:
    assert redact_query("token=abc&page=2") == "token=%5BREDACTED%5D&page=2"
    assert redact_query("page=2") == "page=2"
    assert redact_url("http://u:p@host/x?access_token=1&a=b") == (
        "http://[REDACTED]@host/x?access_token=%5BREDACTED%5D&a=b"
    )


def test_redact_attributes_fast_path_and_changes() -> None:
    assert redact_attributes({"http.route": "/x", "url.query": "page=1"}) is None
    assert redact_attributes({"url.query": "token=t", "user.email": "e"}) == {
        "url.query": "token=%5BREDACTED%5D",
        "user.email": REDACTED,
    }

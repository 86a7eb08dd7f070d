"""servicekit's strict request fields and the OpenAPI completion, on their own (no I/O)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

from servicekit.fields import (
    NO_CONTROL_CHARACTERS,
    NO_CONTROL_CHARACTERS_PATTERN,
)
from servicekit.openapi import PROBLEM_SCHEMA, complete_document, problem_responses

Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=20),
    NO_CONTROL_CHARACTERS,
]
TEXT = TypeAdapter(Text)


@pytest.mark.parametrize(
    "character",
    [chr(code) for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))] + ["\ud800", "\udfff"],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_every_control_character_and_lone_surrogate_is_refused(character: str) -> None:
    with pytest.raises(ValidationError) as raised:
        TEXT.validate_python(f"ab{character}cd")
    assert [error["type"] for error in raised.value.errors()] == ["control_character"]
    # The documented pattern says the same (surrogates aside: UTF-8 cannot carry them).
    if not 0xD800 <= ord(character) <= 0xDFFF:
        assert re.fullmatch(NO_CONTROL_CHARACTERS_PATTERN, f"ab{character}cd") is None


@pytest.mark.parametrize(
    "text",
    [
        "Zoë",
        "O'Brien-Łukasz",
        "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627",  # Persian, with a zero-width non-joiner
        "\U0001f600",  # outside the BMP: a surrogate pair in JSON, one code point here
        "\u00a0Straße",  # no-break space is a space, not a control
    ],
)
def test_letters_marks_and_joiners_pass(text: str) -> None:
    assert TEXT.validate_python(text) == text.strip()
    assert re.fullmatch(NO_CONTROL_CHARACTERS_PATTERN, text)


def test_constraints_stay_in_the_string_schema() -> None:
    assert TEXT.json_schema() == {
        "type": "string",
        "minLength": 1,
        "maxLength": 20,
        "pattern": NO_CONTROL_CHARACTERS_PATTERN,
    }
    with pytest.raises(ValidationError) as raised:
        TEXT.validate_python("x" * 21)
    assert raised.value.errors()[0]["type"] == "string_too_long"


class Thing(BaseModel):
    name: str


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/things/{thing_id}", responses=problem_responses(404, descriptions={404: "gone"}))
    async def create(thing_id: int, thing: Thing) -> Thing:
        return thing

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    return app


def test_complete_document_adds_the_shared_problems_and_drops_fastapis_422() -> None:
    document: dict[str, Any] = complete_document(_app().openapi())
    post = document["paths"]["/things/{thing_id}"]["post"]["responses"]
    assert list(post) == ["200", "400", "404", "413", "422", "500"]
    assert post["404"]["description"] == "gone"
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for status in ("400", "404", "413", "422", "500"):
        assert post[status]["content"] == problem
    assert list(document["paths"]["/plain"]["get"]["responses"]) == ["200", "500"]
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert schemas["Problem"] == PROBLEM_SCHEMA


def test_a_description_for_an_unlisted_status_is_a_mistake() -> None:
    with pytest.raises(ValueError, match=r"\[409\]"):
        problem_responses(404, descriptions={409: "conflict"})

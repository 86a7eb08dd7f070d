"""Request fields that take their JSON types strictly.

FastAPI decodes a JSON body with ``json.loads`` and validates the result in pydantic's Python
mode. Lax mode then turns ``true`` into ``1``, ``"100"`` into ``100`` and ``0`` into 1970-01-01;
``strict=True`` cannot help for dates and decimals, whose JSON form is a string that strict mode
refuses. The annotations here accept exactly the JSON form and answer anything else with a
validation error of their own type (the problem document's ``errors[].type``):

- ``NO_CONTROL_CHARACTERS`` (on free text): no control character (C0, DEL, C1) and no lone
  surrogate. No name or address holds one, and PostgreSQL cannot store NUL in text (asyncpg
  raises ``CharacterNotInRepertoireError``); SQLite would store it silently.
- ``JSON_INTEGER``: a JSON number without a fractional part (``100`` or ``100.0``, as JSON
  Schema's ``integer`` has it), not ``true``, not ``"100"``.
- ``ISO_DATE``: a ``YYYY-MM-DD`` string, nothing else (no numbers, no date-times).
- ``PLAIN_DECIMAL``: a JSON number (not ``true``) or a string in plain decimal notation
  (``"1500.50"``, no exponent, no ``NaN``).

Put the marker after the field's ``StringConstraints`` so the constraints stay in the string
schema (and in the OpenAPI document):
``Annotated[str, StringConstraints(...), NO_CONTROL_CHARACTERS]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# C0 controls (tab and newline included), DEL, C1 controls, and UTF-16 surrogates, which only a
# ``\ud800``-style JSON escape can produce and which no database encoding accepts.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same rule for the OpenAPI document (ECMA-262, Python and Rust regex all read ``\xNN``).
# Surrogates are left out: UTF-8 cannot carry them, so no generator or client produces them.
NO_CONTROL_CHARACTERS_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"

ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ISO_DATE = re.compile(ISO_DATE_PATTERN)
PLAIN_DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
_PLAIN_DECIMAL = re.compile(PLAIN_DECIMAL_PATTERN)


def _no_control_characters(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError(
            "control_character",
            "Text must not contain control characters (such as NUL, tab or line breaks).",
        )
    return value


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a JSON integer.")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError(
                "int_from_float", "Input should be a whole number, without a fractional part."
            )
        return int(value)
    return value


def _iso_date(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError(
            "date_format", "Input should be a date string in the form YYYY-MM-DD."
        )
    return value


def _plain_decimal(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError(
            "decimal_type",
            'Input should be a JSON number or a string in plain decimal notation, e.g. "1500.50".',
        )
    if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
        raise PydanticCustomError(
            "decimal_format",
            'Input should be written in plain decimal notation, e.g. "1500.50".',
        )
    return value


@dataclass(frozen=True)
class _BeforeCheck:
    """Runs ``check`` on the raw input before the type's own validation; ``json_schema`` is merged
    into the field's schema without overriding what its constraints already say."""

    check: Any
    json_schema: tuple[tuple[str, Any], ...] = ()

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        for key, value in self.json_schema:
            json_schema.setdefault(key, value)
        return json_schema


NO_CONTROL_CHARACTERS = _BeforeCheck(
    _no_control_characters, (("pattern", NO_CONTROL_CHARACTERS_PATTERN),)
)
JSON_INTEGER = _BeforeCheck(_json_integer)
ISO_DATE = _BeforeCheck(_iso_date)
PLAIN_DECIMAL = _BeforeCheck(_plain_decimal)

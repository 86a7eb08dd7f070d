"""Bodies of the documents module, and the tags contract with the tagger service."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class DocumentKind(enum.StrEnum):
    id = "id"
    fiscal = "fiscal"


class DocumentStatus(enum.StrEnum):
    uploaded = "uploaded"
    tagged = "tagged"
    tagging_failed = "tagging_failed"
    rejected = "rejected"


class DocumentType(enum.StrEnum):
    passport = "passport"
    id_card = "id_card"
    tax_return = "tax_return"
    payslip = "payslip"
    bank_statement = "bank_statement"
    unknown = "unknown"


class Tags(BaseModel):
    """What the tagger answers; it is validated before anything is stored."""

    document_type: DocumentType
    form_year: int | None = Field(default=None, ge=1900, le=2200)
    language: str | None = Field(default=None, max_length=8)
    confidence: float = Field(ge=0, le=1)
    tagger_version: str = Field(max_length=40)


class DocumentRead(BaseModel):
    id: UUID
    application_id: UUID
    kind: DocumentKind
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    status: DocumentStatus
    tags: Tags | None
    failure_reason: str | None
    rejection_reason: str | None
    tagging_attempts: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DocumentRead:
        return cls.model_validate(row)


class DocumentList(BaseModel):
    items: list[DocumentRead]


class DocumentCounts(BaseModel):
    uploaded: int
    tagged: int

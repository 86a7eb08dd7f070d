"""Bodies of the notifications module."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel


class InviteAccepted(BaseModel):
    notification_id: UUID
    status: Literal["sent"] = "sent"

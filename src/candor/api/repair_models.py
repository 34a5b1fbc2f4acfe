"""Request and response models of credit repair (early removal from a list)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from candor.api.objection_models import AttachmentIn


class RepairIn(BaseModel):
    listing: str = Field(
        min_length=1, max_length=32, description="The listing's reference, as the file shows it."
    )
    statement: str = Field(
        default="",
        max_length=10_000,
        description="How the obligation was met. Give a statement, attachments, or both.",
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


class RepairDecisionIn(BaseModel):
    decision: Literal["approved", "refused"]
    reasons: str = Field(min_length=1, max_length=10_000)


class RepairOut(BaseModel):
    """An application and its course so far (every column the store keeps of it)."""

    model_config = {"extra": "allow"}

    ref: str
    listing: str
    list_name: str
    state: str
    due_on: str
    reasons: str | None = None
    approval_record_id: int | None = None


class RepairsOut(BaseModel):
    repairs: list[dict[str, Any]]


class RepairsOverdueOut(BaseModel):
    overdue: list[dict[str, Any]]

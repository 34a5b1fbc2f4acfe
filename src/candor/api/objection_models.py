"""Request and response models of objections and appeals."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class AttachmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    media_type: str = Field(default="application/octet-stream", max_length=100)
    content_base64: str = Field(description="The file, base64 (at most 10 MiB decoded).")


class ObjectionIn(BaseModel):
    about: Literal["record", "listing", "rating"]
    target: str = Field(
        min_length=1,
        max_length=128,
        description="A listing's reference, a record's id, or a rulebook's name (a rating).",
    )
    statement: str = Field(min_length=1, max_length=10_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


class DecisionIn(BaseModel):
    decision: Literal["upheld", "partly_upheld", "rejected"]
    reasons: str = Field(min_length=1, max_length=10_000)


class AppealIn(BaseModel):
    statement: str = Field(min_length=1, max_length=10_000)


class ObjectionOut(BaseModel):
    """An objection and its course so far (every column the store keeps of it)."""

    model_config = {"extra": "allow"}

    ref: str
    about: str
    state: str
    due_on: str
    decision: str | None = None
    reasons: str | None = None


class ObjectionsOut(BaseModel):
    objections: list[dict[str, Any]]


class OverdueOut(BaseModel):
    overdue: list[dict[str, Any]]
    finalised: list[str]

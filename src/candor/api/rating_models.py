"""Response bodies of the rating, explanation, list and rulebook endpoints (Pydantic)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field


class SubjectQuery(BaseModel):
    """An identifier travels in a request body, never in a URL (URLs end up in logs)."""

    identifier: str = Field(
        min_length=3,
        max_length=64,
        description="SCHEME:IDENTIFIER, e.g. cn_resident_id:11010519491231002X",
    )
    purpose: str = Field(
        min_length=1, max_length=200, description="Why you look the subject up (logged)."
    )


class SubjectFound(BaseModel):
    subject: str = Field(description="The subject's public reference; use it in the URLs below.")


class RecordRef(BaseModel):
    id: int
    source: str
    source_record_id: str
    record_type: str
    occurred_on: date
    decided_on: date
    status: str
    legal_basis: str


class Contribution(BaseModel):
    rule: str
    description: str
    legal_basis: str | None
    record: RecordRef | None = Field(description="None: the rule's cap, which limits its total.")
    points: float
    until: date | None = Field(description="The last day the record counts (None: no end).")


class ForcedGrade(BaseModel):
    override: str
    grade: str
    legal_basis: str | None
    record: RecordRef | None
    until: date | None


class ListingOut(BaseModel):
    list_name: str = Field(alias="list")
    title: str
    listing: str | None = Field(description="The listing's public reference, once stored.")
    record: RecordRef | None
    legal_basis: str | None
    starts_on: date
    ends_on: date | None
    removed_on: date | None
    removed_by: RecordRef | None
    in_force: bool
    until: date | None = Field(description="The first day the listing no longer applies.")
    term: str | None
    extension: str | None
    removal: list[str] = Field(description="Record types that take the subject off the list.")
    measures: list[str]
    how_to_object: str


class RulebookRating(BaseModel):
    rulebook: str
    version: str
    title: str
    authority: str
    effective_from: date
    scored: bool
    consented: bool | None = Field(description="None: this rulebook needs no consent.")
    base: int | None
    score: float | None
    grade: str | None
    grades_verified: bool | None
    grades_note: str
    contributions: list[Contribution]
    overrides: list[ForcedGrade]
    listings: list[ListingOut]


class ExplanationOut(BaseModel):
    subject: str
    kind: str
    as_of: date
    rulebooks: list[RulebookRating]


class RatingLine(BaseModel):
    rulebook: str
    version: str
    consented: bool | None
    score: float | None
    grade: str | None


class ListingBrief(BaseModel):
    list_name: str = Field(alias="list")
    listing: str | None
    starts_on: date
    until: date | None
    measures: list[str]


class RatingOut(BaseModel):
    subject: str
    as_of: date
    ratings: list[RatingLine] = Field(description="One per scoring rulebook.")
    listings: list[ListingBrief] = Field(description="Listings in force on as_of.")


class ListOut(BaseModel):
    list_name: str = Field(alias="list")
    title: str
    rulebook: str
    legal_basis: str | None
    term: str | None
    measures: list[str]
    publish: bool
    how_to_object: str
    in_force: int


class ListsOut(BaseModel):
    as_of: date
    lists: list[ListOut]


class EntryOut(BaseModel):
    listing: str
    subject: str
    kind: str
    starts_on: date
    until: date | None


class EntriesOut(BaseModel):
    list_name: str = Field(alias="list")
    as_of: date
    computed_as_of: date | None = Field(description="The date of the last rating run.")
    entries: list[EntryOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; None: done.")


class RulebookVersion(BaseModel):
    rulebook: str
    version: str
    title: str
    effective_from: date
    activated_at: str
    activated_by: str | None = Field(
        description="Who activated it (cli:<user> at the command line); null before revision 0012."
    )
    digest: str = Field(description="SHA-256 of the file as activated.")
    in_force: bool


class RulebookVersions(BaseModel):
    rulebooks: list[RulebookVersion]


class RulebookDocument(RulebookVersion):
    content: str = Field(description="The rulebook file exactly as activated (YAML).")
    parsed: dict[str, Any]

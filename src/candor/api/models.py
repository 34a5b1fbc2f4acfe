"""Request and response bodies (Pydantic), shared by the routers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

RECORD_EXAMPLE: dict[str, Any] = {
    "source_record_id": "2025-EXE-000123",
    "identifier_scheme": "cn_resident_id",
    "identifier": "11010519491231002X",
    "name": "张三",
    "record_type": "court.enforcement_order",
    "occurred_on": "2025-01-10",
    "decided_on": "2025-02-01",
    "legal_basis": "Civil Procedure Law Art. 247",
    "status": "final",
    "attributes": {"case_no": "(2025)京0105执123号", "amount": 120000},
}


class Health(BaseModel):
    status: str = Field(description="ok when the store answers.")
    version: str
    store: str = Field(description="The store's engine: sqlite or postgresql.")
    schema_revision: str


class RecordBatch(BaseModel):
    """A batch of records in the JSON Lines format of the CONTRACT, one object per record."""

    records: list[dict[str, Any]] = Field(
        description="Record objects: source_record_id, identifier_scheme, identifier, name, "
        "record_type, occurred_on, decided_on, legal_basis, status, optional refers_to and "
        "subject_kind, and an attributes object. Each is checked on its own; a bad record is "
        "rejected with its reasons and the others are kept.",
        examples=[[RECORD_EXAMPLE]],
    )


class RejectOut(BaseModel):
    row: int = Field(description="1-based position of the record in the request.")
    field: str
    reason: str
    source_record_id: str | None = None


class IngestOut(BaseModel):
    ingestion: int = Field(description="The ingestion run's id.")
    accepted: int
    rejected: int = Field(description="Records refused (a record can have several reasons).")
    duplicates: int = Field(description="Records already accepted before, unchanged.")
    rejects: list[RejectOut]


# --- checks ---------------------------------------------------------------------------------

Purpose = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(
        description="Why the relying party asks (e.g. 'ticket sale'): required, logged with the "
        "check and shown to the subject in their file."
    ),
]
MeasureName = Annotated[
    str,
    Field(min_length=1, max_length=64, description="The measure, e.g. no_air_travel."),
]
AsOf = Annotated[date | None, Field(description="The date the answer is for (default: today).")]


class IdentifierRef(BaseModel):
    """An identifier as scheme and value, for values that contain a colon."""

    scheme: str = Field(
        max_length=32, description="cn_resident_id, cn_uscc or other", examples=["cn_resident_id"]
    )
    identifier: str = Field(max_length=200, examples=["11010519491231002X"])


Identifier = Annotated[
    Annotated[str, Field(max_length=240)] | IdentifierRef,
    Field(
        description="SCHEME:IDENTIFIER text or an object {scheme, identifier}. Invalid ones are "
        "refused naming the rule they fail, never repeating the identifier.",
        examples=["cn_resident_id:11010519491231002X"],
    ),
]


class CheckIn(BaseModel):
    identifier: Identifier
    measure: MeasureName
    as_of: AsOf = None
    purpose: Purpose


class CheckOut(BaseModel):
    """The answer, and nothing else about the subject."""

    measure: str
    as_of: date
    applies: bool
    listing: str | None = Field(description="The public reference of the listing that applies.")
    until: date | None = Field(
        description="The first day the measure no longer applies (None: no end date, or it "
        "does not apply)."
    )
    how_to_object: str | None = Field(description="Where and how the subject can object.")
    disputed: bool = Field(
        default=False,
        description="The subject has an objection open: the answer may change when it is "
        "decided (relying parties that had an answer that changes are told).",
    )


class BulkCheckIn(BaseModel):
    measure: MeasureName
    as_of: AsOf = None
    purpose: Purpose
    identifiers: list[Identifier] = Field(
        description="Up to 1,000,000 identifiers, each SCHEME:IDENTIFIER text or an object "
        "{scheme, identifier}; answered in the same order."
    )


class BulkAnswerOut(BaseModel):
    applies: bool
    listing: str | None
    until: date | None
    disputed: bool = Field(
        description="The subject has an objection open: the answer may change when it is decided."
    )


class BulkErrorOut(BaseModel):
    error: str = Field(description="Why the identifier at this position was not checked.")


class BulkCheckOut(BaseModel):
    measure: str
    as_of: date
    checked: int = Field(description="Identifiers checked (and logged).")
    applies: int = Field(description="How many of them the measure applies to.")
    invalid: int = Field(description="Identifiers refused, each with an error entry.")
    answers: list[BulkAnswerOut | BulkErrorOut] = Field(
        description="One entry per identifier, in the order given."
    )

"""Request and response bodies (Pydantic), shared by the routers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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

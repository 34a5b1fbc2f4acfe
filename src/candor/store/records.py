"""Records: bulk insert, and the look-ups that keep ingestion idempotent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from candor.store.bulk import insert_rows
from candor.store.subjects import CHUNK
from candor.store.tables import records

# Column order of the tuples `insert` takes.
INSERT_COLUMNS: tuple[str, ...] = (
    "source_id",
    "source_record_id",
    "subject_id",
    "identifier_id",
    "record_type",
    "name",
    "occurred_on",
    "decided_on",
    "legal_basis",
    "status",
    "refers_to",
    "attributes",
    "batch_id",
)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """The fields that decide whether a resubmitted row is the record already accepted."""

    identifier_id: int
    name: str
    record_type: str
    occurred_on: date
    decided_on: date
    legal_basis: str
    status: str
    refers_to: str | None
    attributes: dict[str, Any]


def stored(
    conn: Connection, source_id: int, source_record_ids: Sequence[str], *, not_in_batch: int
) -> dict[str, StoredRecord]:
    """Records this source submitted before batch ``not_in_batch`` under ``source_record_ids``."""
    query = select(
        records.c.source_record_id,
        records.c.identifier_id,
        records.c.name,
        records.c.record_type,
        records.c.occurred_on,
        records.c.decided_on,
        records.c.legal_basis,
        records.c.status,
        records.c.refers_to,
        records.c.attributes,
    ).where(
        records.c.source_id == source_id,
        records.c.source_record_id.in_(bindparam("ids", expanding=True)),
        records.c.batch_id != not_in_batch,
    )
    out: dict[str, StoredRecord] = {}
    for start in range(0, len(source_record_ids), CHUNK):
        chunk = list(source_record_ids[start : start + CHUNK])
        for row in conn.execute(query, {"ids": chunk}):
            attributes = row.attributes
            if isinstance(attributes, str):  # some drivers hand JSON back as text
                attributes = json.loads(attributes)
            out[row.source_record_id] = StoredRecord(
                row.identifier_id,
                row.name,
                row.record_type,
                row.occurred_on,
                row.decided_on,
                row.legal_basis,
                row.status,
                row.refers_to,
                attributes,
            )
    return out


def existing_ids(conn: Connection, source_id: int, source_record_ids: Sequence[str]) -> set[str]:
    """Which of ``source_record_ids`` this source has already submitted."""
    query = select(records.c.source_record_id).where(
        records.c.source_id == source_id,
        records.c.source_record_id.in_(bindparam("ids", expanding=True)),
    )
    found: set[str] = set()
    for start in range(0, len(source_record_ids), CHUNK):
        found.update(
            conn.execute(query, {"ids": list(source_record_ids[start : start + CHUNK])}).scalars()
        )
    return found


def insert_new(conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
    """Insert record tuples (``INSERT_COLUMNS`` order) whose source id is new; skip the others.

    Returns how many were inserted; the skipped ones are found with ``stored(…, before=…)``.
    """
    return insert_rows(
        conn, records, INSERT_COLUMNS, rows, skip_conflicts_on=("source_id", "source_record_id")
    )


def resolve_refers_to(conn: Connection, source_id: int, source_record_ids: Sequence[str]) -> None:
    """Point each record's ``refers_to_id`` at the record its ``refers_to`` names."""
    if not source_record_ids:
        return
    target = records.alias("target")
    conn.execute(
        update(records)
        .where(records.c.source_id == source_id, records.c.source_record_id == bindparam("srid"))
        .values(
            refers_to_id=select(target.c.id)
            .where(
                target.c.source_id == records.c.source_id,
                target.c.source_record_id == records.c.refers_to,
            )
            .scalar_subquery()
        ),
        [{"srid": s} for s in source_record_ids],
    )


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(records)).scalar_one())

"""Records: bulk insert, and the look-ups that keep ingestion idempotent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, Text, bindparam, cast, func, select, update

from candor.domain.references import Referable
from candor.domain.resubmission import SAME_CONTENT
from candor.store.bulk import insert_rows
from candor.store.sql import among
from candor.store.tables import ingest_batches, records, sources

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
    "sealed",
)


# A stored record's fields that decide whether a resubmission is the same record.
COMPARED: tuple[str, ...] = ("identifier_id", *SAME_CONTENT)


def stored(
    conn: Connection, source_id: int, source_record_ids: Sequence[str], *, not_in_batch: int
) -> pl.DataFrame:
    """Records this source submitted before batch ``not_in_batch`` under ``source_record_ids``.

    Columns: source_record_id, ``COMPARED`` (attributes as JSON text, without the personal ones;
    name empty where it is sealed), and subject_id, sealed and erased_on for opening the
    personal data.
    """
    query = select(
        records.c.source_record_id,
        *(records.c[c] for c in COMPARED if c != "attributes"),
        cast(records.c.attributes, Text).label("attributes"),
        records.c.subject_id,
        records.c.sealed,
        records.c.erased_on,
    ).where(
        records.c.source_id == source_id,
        among(conn, records.c.source_record_id, source_record_ids),
        records.c.batch_id != not_in_batch,
    )
    rows = conn.execute(query).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "source_record_id": pl.String(),
            "identifier_id": pl.Int64(),
            "name": pl.String(),
            "record_type": pl.String(),
            "occurred_on": pl.Date(),
            "decided_on": pl.Date(),
            "legal_basis": pl.String(),
            "status": pl.String(),
            "refers_to": pl.String(),
            "attributes": pl.String(),
            "subject_id": pl.Int64(),
            "sealed": pl.Binary(),
            "erased_on": pl.Date(),
        },
        orient="row",
    )


def referable(
    conn: Connection, source_id: int, source_record_ids: Sequence[str]
) -> dict[str, Referable]:
    """This source's stored records among ``source_record_ids``: their subject and decision."""
    query = select(records.c.source_record_id, records.c.subject_id, records.c.decided_on).where(
        records.c.source_id == source_id,
        among(conn, records.c.source_record_id, source_record_ids),
    )
    return {srid: Referable(subject, decided) for srid, subject, decided in conn.execute(query)}


def newest_id(conn: Connection) -> int:
    """The largest record id so far (0 with none)."""
    return int(conn.execute(select(func.coalesce(func.max(records.c.id), 0))).scalar_one())


def insert_new(conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
    """Insert record tuples (``INSERT_COLUMNS`` order) whose source id is new; skip the others.

    Returns how many were inserted; the skipped ones are found with ``stored(…, not_in_batch=…)``.
    """
    return insert_rows(
        conn, records, INSERT_COLUMNS, rows, skip_conflicts_on=("source_id", "source_record_id")
    )


def resolve_refers_to(conn: Connection, source_id: int, source_record_ids: Sequence[str]) -> None:
    """Point each record's ``refers_to_id`` at the record its ``refers_to`` names, and — when
    that record has the same type, making this one its later version — ``original_id`` at the
    first version of the decision.

    ``source_record_ids`` come in file order, so a chain inside one batch resolves link by link.
    """
    if not source_record_ids:
        return
    target = records.alias("target")
    named = (
        target.c.source_id == records.c.source_id,
        target.c.source_record_id == records.c.refers_to,
    )
    conn.execute(
        update(records)
        .where(records.c.source_id == source_id, records.c.source_record_id == bindparam("srid"))
        .values(
            refers_to_id=select(target.c.id).where(*named).scalar_subquery(),
            original_id=select(func.coalesce(target.c.original_id, target.c.id))
            .where(*named, target.c.record_type == records.c.record_type)
            .scalar_subquery(),
        ),
        [{"srid": s} for s in source_record_ids],
    )


def described(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What an explanation shows of each record: its source, type, dates, status and legal
    basis (never the identifier or the name)."""
    if not ids:
        return {}
    rows = conn.execute(
        select(
            records.c.id,
            sources.c.name.label("source"),
            records.c.source_record_id,
            records.c.record_type,
            records.c.occurred_on,
            records.c.decided_on,
            records.c.status,
            records.c.legal_basis,
        )
        .join(sources, sources.c.id == records.c.source_id)
        .where(records.c.id.in_(sorted(set(ids))))
    )
    # str(): SQLAlchemy may name columns with a str subclass, which JSON encoders refuse.
    return {row.id: {str(k): v for k, v in row._mapping.items()} for row in rows}


def subjects_of_ingestion(conn: Connection, ingestion_id: int) -> list[int]:
    """The subjects an ingestion run added records about."""
    rows = conn.execute(
        select(records.c.subject_id)
        .join(ingest_batches, ingest_batches.c.id == records.c.batch_id)
        .where(ingest_batches.c.ingestion_id == ingestion_id)
        .distinct()
    )
    return sorted(r.subject_id for r in rows)

"""Ingestion runs, their committed batches, and the rejects each batch recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, update

from candor.domain.rejects import Reject
from candor.store.bulk import insert_rows
from candor.store.tables import ingest_batches, ingestions, rejects

REASON_MAX = 500


@dataclass(frozen=True)
class BatchCounts:
    accepted: int
    rejected: int
    duplicates: int
    rows_read: int


def start(
    conn: Connection, source_id: int, channel: str, file_name: str | None, now: datetime
) -> int:
    result = conn.execute(
        insert(ingestions)
        .values(
            source_id=source_id,
            channel=channel,
            file_name=file_name,
            started_at=now,
            status="running",
        )
        .returning(ingestions.c.id)
    )
    return int(result.scalar_one())


def add_batch(
    conn: Connection,
    ingestion_id: int,
    seq: int,
    rows: tuple[int | None, int | None],
    now: datetime,
) -> int:
    """Open a batch of an ingestion; its counts are set by ``count_batch`` before commit."""
    batch_id = conn.execute(
        insert(ingest_batches)
        .values(
            ingestion_id=ingestion_id,
            seq=seq,
            first_row=rows[0],
            last_row=rows[1],
            accepted=0,
            rejected=0,
            duplicates=0,
            committed_at=now,
        )
        .returning(ingest_batches.c.id)
    ).scalar_one()
    return int(batch_id)


def count_batch(conn: Connection, ingestion_id: int, batch_id: int, counts: BatchCounts) -> None:
    """Set a batch's counts and add them to its ingestion, in the batch's own transaction."""
    conn.execute(
        update(ingest_batches)
        .where(ingest_batches.c.id == batch_id)
        .values(accepted=counts.accepted, rejected=counts.rejected, duplicates=counts.duplicates)
    )
    conn.execute(
        update(ingestions)
        .where(ingestions.c.id == ingestion_id)
        .values(
            rows_read=ingestions.c.rows_read + counts.rows_read,
            accepted=ingestions.c.accepted + counts.accepted,
            rejected=ingestions.c.rejected + counts.rejected,
            duplicates=ingestions.c.duplicates + counts.duplicates,
        )
    )


def add_rejects(conn: Connection, batch_id: int, found: Sequence[Reject]) -> None:
    insert_rows(
        conn,
        rejects,
        ("batch_id", "row", "source_record_id", "field", "reason"),
        [(batch_id, r.row, r.source_record_id, r.field, r.reason[:REASON_MAX]) for r in found],
    )


def finish(
    conn: Connection, ingestion_id: int, status: str, now: datetime, error: str | None = None
) -> None:
    conn.execute(
        update(ingestions)
        .where(ingestions.c.id == ingestion_id)
        .values(status=status, finished_at=now, error=error)
    )

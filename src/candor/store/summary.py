"""Counts over the store for summaries (the demo, `candor status`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from candor.store.tables import (
    ingest_batches,
    ingestions,
    records,
    rejects,
    sources,
    subjects,
)

_ROW_NUMBER = re.compile(r"\brow \d+")


def subjects_by_kind(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(subjects.c.kind, func.count()).group_by(subjects.c.kind))
    return {kind: int(n) for kind, n in rows}


def records_by_source_and_type(conn: Connection) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        select(sources.c.name, records.c.record_type, func.count())
        .join(sources, sources.c.id == records.c.source_id)
        .group_by(sources.c.name, records.c.record_type)
        .order_by(sources.c.name, records.c.record_type)
    )
    return [(source, record_type, int(n)) for source, record_type, n in rows]


def reject_reasons(
    conn: Connection, ingestion_ids: Sequence[int], limit: int = 10
) -> list[tuple[str, str, int]]:
    """The commonest (field, reason) pairs among the rejects of some ingestions.

    Reasons that differ only in the row they point at ("the record of row 136") count as one.
    """
    rows = conn.execute(
        select(rejects.c.field, rejects.c.reason, func.count())
        .join(ingest_batches, ingest_batches.c.id == rejects.c.batch_id)
        .where(ingest_batches.c.ingestion_id.in_(list(ingestion_ids)))
        .group_by(rejects.c.field, rejects.c.reason)
    )
    tally: Counter[tuple[str, str]] = Counter()
    for field, reason, count in rows:
        tally[(field, _ROW_NUMBER.sub("row N", reason))] += int(count)
    ranked = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
    return [(field, reason, n) for (field, reason), n in ranked[:limit]]


def ingestion_totals(conn: Connection, ingestion_ids: Sequence[int]) -> dict[str, int]:
    row = conn.execute(
        select(
            func.coalesce(func.sum(ingestions.c.rows_read), 0),
            func.coalesce(func.sum(ingestions.c.accepted), 0),
            func.coalesce(func.sum(ingestions.c.rejected), 0),
            func.coalesce(func.sum(ingestions.c.duplicates), 0),
        ).where(ingestions.c.id.in_(list(ingestion_ids)))
    ).one()
    return dict(
        zip(("rows_read", "accepted", "rejected", "duplicates"), map(int, row), strict=True)
    )

"""What a subject's file reads from the store: its records, listings, rating history, and the
ledger entries about them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from candor.store.tables import (
    ingest_batches,
    ledger_entries,
    listings,
    notices,
    rating_changes,
    records,
    rulebooks,
    sources,
    subjects,
)


def subject_row(conn: Connection, subject_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(
            subjects.c.ref,
            subjects.c.kind,
            subjects.c.region_code,
            subjects.c.birth_date,
            subjects.c.created_at,
        ).where(subjects.c.id == subject_id)
    ).one()
    return dict(row._mapping)


def records_of(conn: Connection, subject_id: int) -> list[dict[str, Any]]:
    """Every record about the subject, oldest first, with its source and when it was accepted
    (the name and personal attributes still sealed)."""
    target = records.alias("target")
    query = (
        select(
            records.c.id,
            sources.c.name.label("source"),
            records.c.source_id,
            records.c.source_record_id,
            records.c.subject_id,
            records.c.record_type,
            records.c.name,
            records.c.sealed,  # opened by the service (candor.services.data_keys.shown)
            records.c.erased_on,
            records.c.occurred_on,
            records.c.decided_on,
            records.c.legal_basis,
            records.c.status,
            records.c.refers_to,
            target.c.id.label("refers_to_id"),
            records.c.attributes,
            ingest_batches.c.committed_at.label("accepted_at"),
        )
        .join(sources, sources.c.id == records.c.source_id)
        .join(ingest_batches, ingest_batches.c.id == records.c.batch_id)
        .outerjoin(target, target.c.id == records.c.refers_to_id)
        .where(records.c.subject_id == subject_id)
        .order_by(records.c.decided_on, records.c.id)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def listings_of(conn: Connection, subject_id: int) -> list[dict[str, Any]]:
    """Every listing of the subject, past and present, with its rulebook version."""
    query = (
        select(
            listings.c.id,
            listings.c.ref,
            rulebooks.c.name.label("rulebook"),
            rulebooks.c.version,
            listings.c.list_name,
            listings.c.record_id,
            listings.c.starts_on,
            listings.c.ends_on,
            listings.c.removed_on,
            listings.c.withdrawn_on,
        )
        .join(rulebooks, rulebooks.c.id == listings.c.rulebook_id)
        .where(listings.c.subject_id == subject_id)
        .order_by(listings.c.starts_on, listings.c.id)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def rating_history(conn: Connection, subject_id: int, *, limit: int) -> list[dict[str, Any]]:
    query = (
        select(
            rulebooks.c.name.label("rulebook"),
            rulebooks.c.version,
            rating_changes.c.as_of,
            rating_changes.c.score,
            rating_changes.c.grade,
            rating_changes.c.previous_score,
            rating_changes.c.previous_grade,
            rating_changes.c.changed_at,
        )
        .join(rulebooks, rulebooks.c.id == rating_changes.c.rulebook_id)
        .where(rating_changes.c.subject_id == subject_id)
        .order_by(rating_changes.c.changed_at.desc(), rating_changes.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def ledger_entries_about(
    conn: Connection, record_ids: Sequence[int], listing_ids: Sequence[int]
) -> list[tuple[int, str, int, bytes]]:
    """(leaf index, table, object id, data) of the entries about these records and listings."""
    about = []
    if record_ids:
        about.append(
            and_(
                ledger_entries.c.object_table == "records",
                ledger_entries.c.object_id.in_(list(record_ids)),
            )
        )
    if listing_ids:
        about.append(
            and_(
                ledger_entries.c.object_table == "listings",
                ledger_entries.c.object_id.in_(list(listing_ids)),
            )
        )
    if not about:
        return []
    rows = conn.execute(
        select(
            ledger_entries.c.leaf_index,
            ledger_entries.c.object_table,
            ledger_entries.c.object_id,
            ledger_entries.c.data,
        )
        .where(or_(*about))
        .order_by(ledger_entries.c.leaf_index)
    )
    return [(int(i), str(t), int(o), bytes(d)) for i, t, o, d in rows]


def notices_of(conn: Connection, subject_id: int, *, limit: int) -> list[dict[str, Any]]:
    """The notices sent to the subject, newest first."""
    query = (
        select(
            notices.c.id,
            notices.c.kind,
            notices.c.title,
            notices.c.body,
            notices.c.created_at,
        )
        .where(notices.c.subject_id == subject_id)
        .order_by(notices.c.created_at.desc(), notices.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]

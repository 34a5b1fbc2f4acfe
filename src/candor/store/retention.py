"""Retention in the store: the records that still hold personal data, erasing it, the listings
that keep it, and officers' erasures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, or_, select, update

from candor.store.sql import among, ids_among
from candor.store.tables import erasures, listings, records, subject_keys

# A record holds personal data while its sealed blob is there — or, stored before sealing, its
# name in the clear.
_HOLDS_PERSONAL_DATA = or_(records.c.sealed.is_not(None), records.c.name != "")


def candidates(
    conn: Connection, *, types: Sequence[str], decided_by: date, after: int, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` records with ids above ``after``, in id order, that hold personal data,
    are of one of ``types`` and were decided on or before ``decided_by``: id, subject_id,
    record_type, decided_on, original_id."""
    rows = conn.execute(
        select(
            records.c.id,
            records.c.subject_id,
            records.c.record_type,
            records.c.decided_on,
            records.c.original_id,
        )
        .where(
            records.c.id > after,
            _HOLDS_PERSONAL_DATA,
            records.c.decided_on <= decided_by,
            among(conn, records.c.record_type, types),
        )
        .order_by(records.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def listings_by_entry(
    conn: Connection, subject_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """The listings of these subjects (found by the subject's index), by entry record id."""
    if not subject_ids:
        return {}
    rows = conn.execute(
        select(
            listings.c.record_id,
            listings.c.starts_on,
            listings.c.ends_on,
            listings.c.removed_on,
            listings.c.withdrawn_on,
        ).where(ids_among(conn, listings.c.subject_id, subject_ids))
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(int(row.record_id), []).append(dict(row._mapping))
    return found


def holding_personal_data(conn: Connection, subject_id: int) -> list[int]:
    """The ids of the subject's records that hold personal data."""
    rows = conn.execute(
        select(records.c.id)
        .where(records.c.subject_id == subject_id, _HOLDS_PERSONAL_DATA)
        .order_by(records.c.id)
    )
    return [int(r[0]) for r in rows]


def erase(conn: Connection, record_ids: Sequence[int], on: date) -> list[int]:
    """Remove these records' personal data (their sealed blob, and any name kept in the clear),
    marking them erased ``on``; the ids of those that still held some."""
    if not record_ids:
        return []
    rows = conn.execute(
        update(records)
        .where(ids_among(conn, records.c.id, record_ids), _HOLDS_PERSONAL_DATA)
        .values(sealed=None, name="", erased_on=on)
        .returning(records.c.id)
    )
    return sorted(int(r[0]) for r in rows)


def idle_keys(
    conn: Connection, *, subject_ids: Sequence[int] | None = None, after: int = 0, limit: int
) -> list[int]:
    """Subjects (among ``subject_ids``, or all with ids above ``after``) whose live data key
    seals nothing any more: no record about them holds sealed data."""
    sealed_left = exists().where(
        and_(records.c.subject_id == subject_keys.c.subject_id, records.c.sealed.is_not(None))
    )
    query = select(subject_keys.c.subject_id).where(
        subject_keys.c.wrapped.is_not(None), ~sealed_left
    )
    if subject_ids is not None:
        if not subject_ids:
            return []
        query = query.where(ids_among(conn, subject_keys.c.subject_id, subject_ids))
    else:
        query = query.where(subject_keys.c.subject_id > after)
    rows = conn.execute(query.order_by(subject_keys.c.subject_id).limit(limit))
    return [int(r[0]) for r in rows]


def add_erasure(
    conn: Connection, subject_id: int, reason: str, requested_by: str, at: datetime, count: int
) -> int:
    return int(
        conn.execute(
            insert(erasures)
            .values(
                subject_id=subject_id,
                reason=reason,
                requested_by=requested_by,
                erased_at=at,
                records=count,
            )
            .returning(erasures.c.id)
        ).scalar_one()
    )

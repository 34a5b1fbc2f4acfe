"""Ratings, their history, listings and rating runs in the store."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from candor.store.tables import (
    listings,
    rating_changes,
    rating_runs,
    ratings,
    records,
    subject_rerates,
)

LISTING_FIELDS = ("criterion", "starts_on", "ends_on", "removed_on", "removed_by")


def watermark(conn: Connection) -> int:
    """The highest record id such that every record up to it is committed.

    On PostgreSQL concurrent ingestions may commit ids out of order; a SHARE lock waits for
    every transaction that is inserting records, so none below the maximum is still in flight.
    SQLite has one writer at a time.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE records IN SHARE MODE"))
    return int(conn.execute(select(func.coalesce(func.max(records.c.id), 0))).scalar_one())


def last_run(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(
        select(rating_runs)
        .where(rating_runs.c.finished_at.is_not(None))
        .order_by(rating_runs.c.id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None


def rated_through(conn: Connection, subject_id: int) -> int:
    """The last record id the subject's stored ratings and listings account for."""
    run = last_run(conn)
    through = int(run["through_record_id"]) if run else 0
    rerate = conn.execute(
        select(subject_rerates.c.through_record_id).where(
            subject_rerates.c.subject_id == subject_id
        )
    ).scalar()
    return max(through, int(rerate or 0))


def rated_as_of(conn: Connection, subject_id: int) -> date | None:
    """The date the subject's stored ratings and listings were computed for."""
    rerate = conn.execute(
        select(subject_rerates.c.as_of).where(subject_rerates.c.subject_id == subject_id)
    ).scalar()
    if rerate is not None:
        return rerate  # type: ignore[no-any-return]
    run = last_run(conn)
    return run["as_of"] if run else None


def is_stale(conn: Connection, subject_id: int) -> bool:
    """Whether records about the subject arrived after its stored ratings were computed."""
    through = rated_through(conn, subject_id)
    newer = conn.execute(
        select(records.c.id)
        .where(records.c.subject_id == subject_id, records.c.id > through)
        .limit(1)
    ).first()
    return newer is not None


def _upsert(
    conn: Connection, table: Any, keys: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    if not rows:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(table)
    fields = [c for c in rows[0] if c not in keys]
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in fields}
        ),
        list(rows),
    )


def save_ratings(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    previous: dict[tuple[int, int], Any],
    now: datetime,
) -> int:
    """Store ratings (rulebook_id, subject_id, as_of, consented, score, grade); record a change
    wherever score or grade differs from ``previous[(rulebook_id, subject_id)]`` (score, grade).
    Returns how many changed."""
    changed = []
    for row in rows:
        before = previous.get((row["rulebook_id"], row["subject_id"]))
        if before is None or tuple(before) != (row["score"], row["grade"]):
            changed.append(
                {
                    "rulebook_id": row["rulebook_id"],
                    "subject_id": row["subject_id"],
                    "as_of": row["as_of"],
                    "score": row["score"],
                    "grade": row["grade"],
                    "previous_score": before[0] if before else None,
                    "previous_grade": before[1] if before else None,
                    "changed_at": now,
                }
            )
    _upsert(conn, ratings, ("rulebook_id", "subject_id"), rows)
    if changed:
        conn.execute(insert(rating_changes), changed)
    return len(changed)


def stored_ratings(conn: Connection, subject_id: int) -> dict[tuple[int, int], tuple[Any, Any]]:
    query = select(ratings.c.rulebook_id, ratings.c.subject_id, ratings.c.score, ratings.c.grade)
    return {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(query.where(ratings.c.subject_id == subject_id))
    }


def all_ratings(
    conn: Connection, rulebook_ids: Iterable[int]
) -> dict[tuple[int, int], tuple[Any, Any]]:
    query = select(
        ratings.c.rulebook_id, ratings.c.subject_id, ratings.c.score, ratings.c.grade
    ).where(ratings.c.rulebook_id.in_(list(rulebook_ids)))
    return {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(query)}


def stored_listings(
    conn: Connection, rulebook_ids: Iterable[int], subject_id: int | None = None
) -> dict[tuple[int, str, int], dict[str, Any]]:
    query = select(listings).where(listings.c.rulebook_id.in_(list(rulebook_ids)))
    if subject_id is not None:
        query = query.where(listings.c.subject_id == subject_id)
    return {
        (r.rulebook_id, r.list_name, r.record_id): dict(r._mapping) for r in conn.execute(query)
    }


def save_listings(
    conn: Connection,
    computed: Sequence[dict[str, Any]],
    stored: dict[tuple[int, str, int], dict[str, Any]],
    as_of: date,
    now: datetime,
) -> tuple[int, int, int]:
    """Bring stored listings in line with ``computed``: insert new ones, update changed ones,
    and mark withdrawn those no longer computed (their entry record was overturned).

    Returns (added, changed, withdrawn).
    """
    new, changed = [], []
    seen = set()
    for row in computed:
        key = (row["rulebook_id"], row["list_name"], row["record_id"])
        seen.add(key)
        old = stored.get(key)
        values = {f: row[f] for f in LISTING_FIELDS}
        if old is None:
            new.append(
                {
                    **values,
                    "ref": secrets.token_hex(8),
                    "rulebook_id": row["rulebook_id"],
                    "list_name": row["list_name"],
                    "subject_id": row["subject_id"],
                    "record_id": row["record_id"],
                    "as_of": as_of,
                    "updated_at": now,
                }
            )
        elif any(old[f] != values[f] for f in LISTING_FIELDS) or old["withdrawn_on"] is not None:
            changed.append({"id": old["id"], **values, "withdrawn_on": None})
    withdrawn = [
        {"id": old["id"]}
        for key, old in stored.items()
        if key not in seen and old["withdrawn_on"] is None
    ]
    if new:
        conn.execute(insert(listings), new)
    for row in changed:
        listing_id = row.pop("id")
        conn.execute(
            update(listings)
            .where(listings.c.id == listing_id)
            .values(**row, as_of=as_of, updated_at=now)
        )
    for row in withdrawn:
        conn.execute(
            update(listings)
            .where(listings.c.id == row["id"])
            .values(withdrawn_on=as_of, as_of=as_of, updated_at=now)
        )
    return len(new), len(changed), len(withdrawn)


def start_run(conn: Connection, as_of: date, through: int, now: datetime) -> int:
    result = conn.execute(
        insert(rating_runs)
        .values(as_of=as_of, through_record_id=through, started_at=now)
        .returning(rating_runs.c.id)
    )
    return int(result.scalar_one())


def finish_run(conn: Connection, run_id: int, subjects: int, now: datetime) -> None:
    conn.execute(
        update(rating_runs)
        .where(rating_runs.c.id == run_id)
        .values(finished_at=now, subjects=subjects)
    )
    run = conn.execute(select(rating_runs.c.through_record_id).where(rating_runs.c.id == run_id))
    conn.execute(
        delete(subject_rerates).where(subject_rerates.c.through_record_id <= run.scalar_one())
    )


def mark_rerated(
    conn: Connection, subject_id: int, as_of: date, through: int, now: datetime
) -> None:
    _upsert(
        conn,
        subject_rerates,
        ("subject_id",),
        [{"subject_id": subject_id, "as_of": as_of, "through_record_id": through, "rated_at": now}],
    )

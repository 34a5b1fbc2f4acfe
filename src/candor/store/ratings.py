"""Ratings, their history, listings and rating runs in the store.

Two ways in: one subject at a time (``save_ratings``, ``save_listings``: a few rows, compared in
Python), and a whole batch run (``batch_rating_changes``, ``save_batch_ratings``,
``batch_listing_changes``, ``save_batch_listings``): the computed rows and the stored ones as
Arrow tables, compared by a join on DuckDB, so that only what changed is written — nothing at
all when nothing changed — and that is written in bulk (the driver's ``executemany`` on SQLite,
``COPY`` into a scratch table then one ``INSERT … SELECT`` on PostgreSQL).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from candor.domain.ledger import (
    LISTING_ANNOUNCED,
    LISTING_CHANGED,
    LISTING_ENDED,
    LISTING_STARTED,
)
from candor.store import ledger as ledger_rows
from candor.store.bulk import insert_rows
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
        values = {k: v for k, v in row.items() if k != "id"}  # the id stays for the ledger below
        conn.execute(
            update(listings)
            .where(listings.c.id == row["id"])
            .values(**values, as_of=as_of, updated_at=now)
        )
    for row in withdrawn:
        conn.execute(
            update(listings)
            .where(listings.c.id == row["id"])
            .values(withdrawn_on=as_of, as_of=as_of, updated_at=now)
        )
    record_listing_changes(
        conn, [n["ref"] for n in new], [r["id"] for r in changed + withdrawn], as_of, now
    )
    return len(new), len(changed), len(withdrawn)


def record_listing_changes(
    conn: Connection,
    new_refs: Sequence[str],
    changed_ids: Sequence[int],
    as_of: date,
    now: datetime,
) -> None:
    """Ledger entries for listings just stored (by their refs) and changed (by their ids)."""
    started = set(new_refs)
    day = as_of.isoformat()  # stored forms hold dates as YYYY-MM-DD

    def kind(row: Mapping[str, Any]) -> str:
        if row["ref"] in started:
            # Decided, but waiting for its advance warning to run: not in force yet.
            return LISTING_ANNOUNCED if row["starts_on"] > day else LISTING_STARTED
        ended = row["removed_on"] is not None or row["withdrawn_on"] is not None
        return LISTING_ENDED if ended else LISTING_CHANGED

    chunk = 10_000  # bound parameters per statement
    for i in range(0, len(new_refs), chunk):
        part = list(new_refs[i : i + chunk])
        ledger_rows.append_objects(conn, "listings", listings.c.ref.in_(part), kind, now)
    for i in range(0, len(changed_ids), chunk):
        ids = list(changed_ids[i : i + chunk])
        ledger_rows.append_objects(conn, "listings", listings.c.id.in_(ids), kind, now)


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


# --- a whole batch run ---------------------------------------------------------------------------

RATING_COLUMNS = ("rulebook_id", "subject_id", "as_of", "consented", "score", "grade")
CHANGE_COLUMNS = (
    "rulebook_id",
    "subject_id",
    "as_of",
    "score",
    "grade",
    "previous_score",
    "previous_grade",
    "changed_at",
)
NEW_LISTING_COLUMNS = (
    "ref",
    "rulebook_id",
    "list_name",
    "subject_id",
    "record_id",
    *LISTING_FIELDS,
    "as_of",
    "updated_at",
)


# The first key of the advisory locks that serialise one subject's re-ratings on PostgreSQL
# ("cand"); the second is the subject id (its low 31 bits: two subjects sharing a key only wait
# for each other).
_RERATE_LOCK = 0x63616E64


def lock_subject(conn: Connection, subject_id: int) -> None:
    """Hold back other one-subject re-ratings of this subject until this transaction ends.

    Without it, on PostgreSQL two re-ratings of one subject at once (two checks of a subject
    whose records just changed) each read the stored listings before the other's insert
    committed, both inserted the same new listing, and the second check failed on the unique
    (rulebook_id, list_name, record_id) (tests/hardening/test_concurrency.py). Subjects with a
    stored rating were spared only because the rating upsert happened to wait on the row first.
    On SQLite the write transaction already excludes every other writer.

    It also waits for a batch run's write transaction (``lock_for_batch``) and holds the next
    one back until this one commits: ROW EXCLUSIVE, taken here before anything is read, conflicts
    with the batch's SHARE ROW EXCLUSIVE. Taken only at the insert, as it used to be, a re-rate
    could read the stored listings, the batch then insert and commit the same new listing (the
    subject was not yet marked re-rated, so the batch did not leave it alone), and the re-rate's
    insert fail on the unique key (CI, tests/hardening/test_concurrency.py).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, :subject)"),
            {"space": _RERATE_LOCK, "subject": subject_id & 0x7FFFFFFF},
        )
        conn.execute(text("LOCK TABLE ratings, listings IN ROW EXCLUSIVE MODE"))


def rerated_after(conn: Connection, through: int) -> list[int]:
    """The subjects re-rated one at a time from records beyond ``through``: their stored
    ratings and listings are newer than a batch run that read records up to ``through``."""
    return sorted(
        conn.execute(
            select(subject_rerates.c.subject_id).where(
                subject_rerates.c.through_record_id > through
            )
        ).scalars()
    )


def without_subjects(table: pa.Table, subject_ids: Sequence[int]) -> pa.Table:
    """``table``'s rows whose ``subject_id`` is not among ``subject_ids``."""
    if not subject_ids or table.num_rows == 0:
        return table
    left_out = pa.array(subject_ids, type=table.schema.field("subject_id").type)
    return table.filter(pc.invert(pc.is_in(table["subject_id"], value_set=left_out)))


def lock_for_batch(conn: Connection) -> None:
    """Hold back one-subject writes to ratings and listings until this transaction ends, so
    that the stored rows a batch compares with (read on another connection) stay the stored
    rows. On SQLite the write transaction already excludes every other writer."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE ratings, listings IN SHARE ROW EXCLUSIVE MODE"))


def _bound(conn: Connection, table: Table, column: str, value: Any) -> Any:
    """``value`` in the form the driver takes for ``table.column`` (dates as ISO text on
    SQLite), converted once rather than by the driver's adapter once per row."""
    kind = table.c[column].type.dialect_impl(conn.dialect)
    process = kind.bind_processor(conn.dialect)
    return value if process is None or value is None else process(value)


def _on_duckdb(sql: str, **tables: pa.Table) -> pa.Table:
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def batch_rating_changes(computed: pa.Table, previous: pa.Table) -> pa.Table:
    """The computed ratings that differ from the stored ones.

    Args:
        computed: rulebook_id, subject_id, consented (0/1), score, grade — the plan's ratings.
        previous: the same columns as stored (``store.export.ratings``).
    Returns:
        The computed rows that are new or differ in consent, score or grade, with
        previous_score, previous_grade and ``rating_changed`` (score or grade differs, or the
        rating is new: a line in the rating history).
    """
    return _on_duckdb(
        "SELECT c.rulebook_id, c.subject_id, CAST(c.consented AS BIGINT) AS consented, "
        "CAST(c.score AS BIGINT) AS score, CAST(c.grade AS VARCHAR) AS grade, "
        "p.score AS previous_score, p.grade AS previous_grade, "
        "(p.subject_id IS NULL OR c.score IS DISTINCT FROM p.score "
        "OR c.grade IS DISTINCT FROM p.grade) AS rating_changed "
        "FROM computed AS c LEFT JOIN previous AS p "
        "ON p.rulebook_id = c.rulebook_id AND p.subject_id = c.subject_id "
        "WHERE p.subject_id IS NULL OR c.consented IS DISTINCT FROM p.consented "
        "OR c.score IS DISTINCT FROM p.score OR c.grade IS DISTINCT FROM p.grade "
        "ORDER BY c.rulebook_id, c.subject_id",
        computed=computed,
        previous=previous,
    )


def save_batch_ratings(
    conn: Connection, changed: pa.Table, as_of: date, now: datetime
) -> tuple[int, int]:
    """Store the ratings ``batch_rating_changes`` found and their lines of history.

    An unchanged rating is not rewritten, so a stored rating's ``as_of`` is the date of the
    run that last changed it (each run's date is in ``rating_runs``).

    Returns (ratings written, history lines added).
    """
    n = changed.num_rows
    if n == 0:
        return 0, 0
    consented = changed["consented"]
    if conn.dialect.name == "postgresql":
        consented = pc.cast(consented, pa.bool_())
    day = _bound(conn, ratings, "as_of", as_of)
    rows = list(
        zip(
            changed["rulebook_id"].to_pylist(),
            changed["subject_id"].to_pylist(),
            [day] * n,
            consented.to_pylist(),
            changed["score"].to_pylist(),
            changed["grade"].to_pylist(),
            strict=True,
        )
    )
    _bulk_upsert(conn, ratings, RATING_COLUMNS, ("rulebook_id", "subject_id"), rows)
    history = changed.filter(changed["rating_changed"])
    h = history.num_rows
    stamp = _bound(conn, rating_changes, "changed_at", now)
    lines = zip(
        history["rulebook_id"].to_pylist(),
        history["subject_id"].to_pylist(),
        [day] * h,
        history["score"].to_pylist(),
        history["grade"].to_pylist(),
        history["previous_score"].to_pylist(),
        history["previous_grade"].to_pylist(),
        [stamp] * h,
        strict=True,
    )
    insert_rows(conn, rating_changes, CHANGE_COLUMNS, list(lines))
    return n, h


@dataclass(frozen=True)
class ListingChanges:
    """What a batch run changes in the stored listings (see ``save_listings``)."""

    new: pa.Table  # computed listings not stored yet (the plan's listing columns)
    changed: pa.Table  # id and LISTING_FIELDS of stored listings computed differently
    withdrawn: pa.Table  # id of stored listings no longer computed (entry record overturned)


# The SQL comparing computed with stored listings: names from LISTING_FIELDS, nothing else.
_SAME_LISTING = (
    "s.rulebook_id = c.rulebook_id AND s.list_name = c.list_name AND s.record_id = c.record_id"
)
_NEW_LISTINGS = (
    "SELECT * FROM computed AS c WHERE NOT EXISTS "  # noqa: S608
    f"(SELECT 1 FROM stored AS s WHERE {_SAME_LISTING}) "
    "ORDER BY c.rulebook_id, c.list_name, c.record_id"
)
_CHANGED_LISTINGS = (
    f"SELECT s.id, {', '.join(f'c.{f}' for f in LISTING_FIELDS)} "  # noqa: S608
    f"FROM computed AS c JOIN stored AS s ON {_SAME_LISTING} "
    f"WHERE {' OR '.join(f'c.{f} IS DISTINCT FROM s.{f}' for f in LISTING_FIELDS)} "
    "OR s.withdrawn_on IS NOT NULL ORDER BY s.id"
)
_WITHDRAWN_LISTINGS = (
    "SELECT s.id FROM stored AS s WHERE s.withdrawn_on IS NULL AND NOT EXISTS "  # noqa: S608
    f"(SELECT 1 FROM computed AS c WHERE {_SAME_LISTING}) ORDER BY s.id"
)


def batch_listing_changes(computed: pa.Table, stored: pa.Table) -> ListingChanges:
    """Compare the plan's listings with the stored ones (``store.export.listings``) of the same
    rulebook versions, as ``save_listings`` does one subject at a time."""
    con = duckdb.connect()
    try:
        con.register("computed", computed)
        con.register("stored", stored)
        return ListingChanges(
            con.sql(_NEW_LISTINGS).to_arrow_table(),
            con.sql(_CHANGED_LISTINGS).to_arrow_table(),
            con.sql(_WITHDRAWN_LISTINGS).to_arrow_table(),
        )
    finally:
        con.close()


def save_batch_listings(
    conn: Connection, changes: ListingChanges, as_of: date, now: datetime
) -> tuple[int, int, int]:
    """Store what ``batch_listing_changes`` found. Returns (added, changed, withdrawn)."""
    day = _bound(conn, listings, "as_of", as_of)
    stamp = _bound(conn, listings, "updated_at", now)
    new = changes.new.to_pylist()
    refs = [secrets.token_hex(8) for _ in new]
    insert_rows(
        conn,
        listings,
        NEW_LISTING_COLUMNS,
        [
            (
                ref,
                row["rulebook_id"],
                row["list_name"],
                row["subject_id"],
                row["record_id"],
                *(_bound(conn, listings, f, row[f]) for f in LISTING_FIELDS),
                day,
                stamp,
            )
            for ref, row in zip(refs, new, strict=True)
        ],
    )
    changed = changes.changed.to_pylist()
    if changed:
        conn.execute(
            update(listings)
            .where(listings.c.id == bindparam("listing_id"))
            .values(
                **{f: bindparam(f"new_{f}") for f in LISTING_FIELDS},
                withdrawn_on=None,
                as_of=as_of,
                updated_at=now,
            ),
            [
                {"listing_id": row["id"], **{f"new_{f}": row[f] for f in LISTING_FIELDS}}
                for row in changed
            ],
        )
    withdrawn = changes.withdrawn["id"].to_pylist()
    if withdrawn:
        conn.execute(
            update(listings)
            .where(listings.c.id == bindparam("listing_id"))
            .values(withdrawn_on=as_of, as_of=as_of, updated_at=now),
            [{"listing_id": i} for i in withdrawn],
        )
    record_listing_changes(conn, refs, [r["id"] for r in changed] + withdrawn, as_of, now)
    return len(new), len(changed), len(withdrawn)


@cache
def _sqlite_upsert(table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> str:
    stmt = sqlite.insert(table).values(dict.fromkeys(columns))
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: stmt.excluded[c] for c in columns if c not in keys},
    )
    return str(stmt.compile(dialect=sqlite.dialect(paramstyle="qmark")))


def _bulk_upsert(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order, values in the driver's form), replacing
    the other columns of a row whose ``keys`` are stored already."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(_sqlite_upsert(table, columns, keys), list(rows))
        return
    names = ", ".join(f'"{c}"' for c in columns)
    staging = f'"candor_upsert_{table.name}"'
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "  # noqa: S608 — names from candor's own metadata
        f'SELECT {names} FROM "{table.name}" WITH NO DATA'
    )
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in keys)
    conflict = ", ".join(f'"{k}"' for k in keys)
    conn.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {staging} '  # noqa: S608
        f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    )
    conn.exec_driver_sql(f"TRUNCATE {staging}")

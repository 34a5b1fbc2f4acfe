"""Checks in the store: the reads that answer them, and the check log.

A single check is on the API's hot path. Through SQLAlchemy each statement costs about 100 µs
more than the query itself, which would be most of a check's time, so its one query is compiled
once per dialect (SQL as data, like every other query) and runs on a few driver connections of
the store's own pool, kept checked out for this purpose (`DriverReads`). Bulk checks read set-wise,
a few statements for the whole request, through SQLAlchemy as usual.

Which subjects' stored listings can answer follows the rules of ``candor.store.ratings``
(``is_stale``, ``rated_as_of``): a subject's stored listings account for every record up to the
larger of the last rating run's and its own re-rating's ``through_record_id``, and were computed
for that re-rating's date, else the run's. Tests hold the two formulations together.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from candor.domain.pseudonyms import Hashed
from candor.store import identifier_keys
from candor.store.bulk import insert_rows
from candor.store.database import Store
from candor.store.objections import OPEN_STATES
from candor.store.sql import binary_among
from candor.store.tables import (
    checks,
    identifiers,
    listings,
    objections,
    rating_runs,
    records,
    rulebooks,
    subject_rerates,
)

# What a check answer needs of a stored listing, in this order.
LISTING_COLUMNS = (
    "id",
    "ref",
    "rulebook_id",
    "list_name",
    "record_id",
    "starts_on",
    "ends_on",
    "removed_on",
    "withdrawn_on",
)
_DATES = frozenset({"starts_on", "ends_on", "removed_on", "withdrawn_on"})
# The check log's columns as `log_checks` takes them: what was asked, then the answer.
ASKED_COLUMNS = ("checked_at", "client", "purpose", "measure", "as_of")
ANSWER_COLUMNS = ("subject_id", "applies", "listing_id", "until")


def as_date(value: Any) -> date | None:
    """A DATE column's value as read by a driver: SQLite's driver returns ISO text."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _listing(row: Sequence[Any]) -> dict[str, Any]:
    return {c: as_date(v) if c in _DATES else v for c, v in zip(LISTING_COLUMNS, row, strict=True)}


# --- one check: the state of one subject in one statement ----------------------------------


@dataclass(frozen=True, slots=True)
class SubjectState:
    """What a check needs to know about the store and one identifier, read in one snapshot."""

    rulebooks_marker: int  # the newest rulebook version's id: changes on every activation
    identifier_key: int  # the store's newest identifier key (see store.identifier_keys)
    subject_id: int | None  # None: candor knows no subject by this identifier
    disputed: bool  # an objection by the subject is open
    rated_for: date | None  # the date its stored listings were computed for (None: never)
    stale: bool  # records about it arrived after its stored listings were computed
    listings: list[dict[str, Any]]  # every stored listing of the subject, in any state


def _state_query(layered: bool) -> Select[Any]:
    """The subject's state: rulebook marker, rating run, identifier, re-rating, newer records
    and stored listings, as one row per stored listing (one row when there is none); and the
    store's newest identifier key.

    ``layered``: the hash is looked up under the newest key and the key before it (bound as
    ``previous_key_id`` and ``previous``), as while a rotation runs. In one statement, one
    snapshot: a hash is under one of the two there, and a key it was moved to is registered.
    """
    marker = select(
        func.coalesce(func.max(rulebooks.c.id), 0).label("marker"),
        identifier_keys.NEWEST.label("identifier_key"),
    ).subquery("m")
    run = (
        select(rating_runs.c.as_of, rating_runs.c.through_record_id)
        .where(rating_runs.c.finished_at.is_not(None))
        .order_by(rating_runs.c.id.desc())
        .limit(1)
        .subquery("run")
    )
    newest = and_(
        identifiers.c.key_id == bindparam("key_id"), identifiers.c.digest == bindparam("digest")
    )
    if layered:
        previous = and_(
            identifiers.c.key_id == bindparam("previous_key_id"),
            identifiers.c.digest == bindparam("previous"),
        )
        ident: Any = union_all(
            select(identifiers.c.subject_id).where(newest),
            select(identifiers.c.subject_id).where(previous),
        ).subquery("i")
        found: Any = true()
    else:  # one key: a plain join, the plan the hot path was measured with
        ident = identifiers
        found = newest
    rerate = subject_rerates.alias("sr")
    run_through = func.coalesce(run.c.through_record_id, 0)
    own_through = func.coalesce(rerate.c.through_record_id, 0)
    through = case((own_through > run_through, own_through), else_=run_through)
    newer = exists().where(records.c.subject_id == ident.c.subject_id, records.c.id > through)
    # Constants written into the statement: it is compiled once to driver SQL, where an
    # expanding IN has no place.
    disputed = exists().where(
        objections.c.subject_id == ident.c.subject_id,
        or_(*(objections.c.state == literal_column(f"'{s}'") for s in OPEN_STATES)),
    )
    return select(
        marker.c.marker,
        marker.c.identifier_key,
        ident.c.subject_id,
        func.coalesce(rerate.c.as_of, run.c.as_of).label("rated_for"),
        newer.label("stale"),
        disputed.label("disputed"),
        *(listings.c[c] for c in LISTING_COLUMNS),
    ).select_from(
        marker.outerjoin(run, true())
        .outerjoin(ident, found)
        .outerjoin(rerate, rerate.c.subject_id == ident.c.subject_id)
        .outerjoin(listings, listings.c.subject_id == ident.c.subject_id)
    )


@dataclass(frozen=True)
class _Compiled:
    sql: str
    defaults: dict[str, Any]  # bound values the statement itself carries (its LIMIT)


def _compiled(statement: Select[Any], dialect: Dialect) -> _Compiled:
    done = statement.compile(dialect=dialect)
    return _Compiled(str(done), {k: v for k, v in done.params.items() if v is not None})


_RETRY = object()


class _Held:
    """Up to ``size`` driver connections of the store's own pool (so with its settings), taken
    on first need and kept until ``close``; callers beyond ``size`` wait for one. Thread-safe."""

    def __init__(self, store: Store, size: int, *, autocommit: bool) -> None:
        self._engine: Engine = store.engine
        self._size = size
        # On PostgreSQL a read is one statement, one snapshot: no transaction is left open.
        self._autocommit = autocommit and store.dialect != "sqlite"
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._held: list[Any] = []
        self._lock = threading.Lock()

    def acquire(self) -> Any:
        while True:
            try:
                pooled = self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    if len(self._held) < self._size:
                        pooled = self._engine.raw_connection()
                        driver: Any = pooled.driver_connection
                        if self._autocommit:
                            driver.autocommit = True
                        self._held.append(pooled)
                        return pooled
                pooled = self._idle.get()
            if pooled is not _RETRY:
                return pooled

    def release(self, pooled: Any) -> None:
        self._idle.put(pooled)

    def discard(self, pooled: Any) -> None:
        """Hand a connection that failed back to the pool as broken; a new one replaces it."""
        with self._lock:
            if pooled in self._held:
                self._held.remove(pooled)
        pooled.invalidate()
        self._idle.put(_RETRY)  # a caller waiting for a connection may now open one

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for pooled in held:
            if self._autocommit:
                pooled.driver_connection.autocommit = False
            pooled.close()


class DriverReads:
    """The single check's read, on a few driver connections kept for it.

    No memory map on SQLite: it saves a copy per page on a quiet store, but while the check log
    commits to the same file (a commit per batch of checks, a checkpoint every thousand pages)
    the mapped reads took three times as long as plain ones (measured: 50 µs against 16 µs).
    """

    def __init__(self, store: Store, size: int = 4) -> None:
        sqlite_store = store.dialect == "sqlite"
        # SQLite's driver takes :name parameters; psycopg takes SQLAlchemy's own %(name)s.
        dialect = sqlite.dialect(paramstyle="named") if sqlite_store else store.engine.dialect
        self._state = _compiled(_state_query(layered=False), dialect)
        self._layered = _compiled(_state_query(layered=True), dialect)
        self._held = _Held(store, size, autocommit=True)

    def state(self, hashed: Hashed) -> SubjectState:
        """The store's state for one identifier (its keyed hashes), in one statement."""
        if hashed.previous is None:
            sql, params = self._state.sql, {**self._state.defaults}
        else:
            sql, params = self._layered.sql, {**self._layered.defaults}
            params["previous_key_id"] = hashed.previous_key_id
            params["previous"] = hashed.previous[0]
        params["key_id"] = hashed.key_id
        params["digest"] = hashed.digests[0]
        pooled = self._held.acquire()
        try:
            rows = pooled.driver_connection.execute(sql, params).fetchall()
        except BaseException:
            self._held.discard(pooled)
            raise
        self._held.release(pooled)
        first = rows[0]
        return SubjectState(
            rulebooks_marker=int(first[0]),
            identifier_key=int(first[1]),
            subject_id=first[2],
            rated_for=as_date(first[3]),
            stale=bool(first[4]),
            disputed=bool(first[5]),
            listings=[_listing(r[6:]) for r in rows if r[6] is not None],
        )

    def close(self) -> None:
        self._held.close()


# --- many checks: set-wise reads -------------------------------------------------------------


def rulebooks_marker(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(rulebooks.c.id), 0))).scalar_one())


def subject_ids(conn: Connection, hashed: Hashed, *, chunk: int = 50_000) -> list[int | None]:
    """The subject each identifier names (None where candor knows none), in order.

    When the request names a large share of the stored identifiers, reading all of them once
    and matching in memory (a hash join) beats probing the index once per hash; otherwise the
    hashes are looked up in chunks. Hashes a rotation has not re-keyed yet are looked up under
    the key before, first (see ``candor.store.subjects.find``); a store whose newest key is
    newer than ``hashed``'s raises ``StaleSecret`` after the lookup.
    """
    digests = hashed.digests
    if not digests:
        return []
    stored = int(conn.execute(select(func.coalesce(func.max(identifiers.c.id), 0))).scalar_one())
    layers = [(hashed.key_id, digests)]
    if hashed.previous_key_id is not None and hashed.previous is not None:
        layers.insert(0, (hashed.previous_key_id, hashed.previous))
    found: dict[bytes, int] = {}
    for key_id, under in layers:
        # Found under the key before: named by its newest hash.
        name_of = None if under is digests else dict(zip(under, digests, strict=True))
        if len(digests) * 4 >= stored:
            query: Any = select(identifiers.c.digest, identifiers.c.subject_id).where(
                identifiers.c.key_id == key_id
            )
            parts: Any = [query]
        else:
            parts = (
                select(identifiers.c.digest, identifiers.c.subject_id).where(
                    identifiers.c.key_id == key_id,
                    binary_among(conn, identifiers.c.digest, under[start : start + chunk]),
                )
                for start in range(0, len(under), chunk)
            )
        for query in parts:
            for digest, subject in conn.execute(query):
                key = bytes(digest)
                if name_of is not None:
                    named = name_of.get(key)
                    if named is None:
                        continue
                    key = named
                found[key] = subject
    identifier_keys.check_not_behind(conn, hashed.key_id)
    get = found.get
    return [get(d) for d in digests]


@dataclass(frozen=True)
class RatingState:
    """How far the stored ratings and listings go, for every subject at once."""

    run_as_of: date | None  # the last finished rating run's date (None: no run yet)
    run_through: int
    rerated: dict[int, tuple[date, int]]  # subject → (as_of, through) of its own re-rating
    newest_record: dict[int, int]  # subject → its newest record id after the run's through

    def rated_for(self, subject_id: int) -> date | None:
        own = self.rerated.get(subject_id)
        return own[0] if own else self.run_as_of

    def stale(self, subject_id: int) -> bool:
        newest = self.newest_record.get(subject_id)
        if newest is None:
            return False
        own = self.rerated.get(subject_id)
        return newest > max(self.run_through, own[1] if own else 0)


def rating_state(conn: Connection) -> RatingState:
    run = conn.execute(
        select(rating_runs.c.as_of, rating_runs.c.through_record_id)
        .where(rating_runs.c.finished_at.is_not(None))
        .order_by(rating_runs.c.id.desc())
        .limit(1)
    ).first()
    run_as_of, run_through = (run[0], int(run[1])) if run else (None, 0)
    rerated = {
        sid: (as_of, int(through))
        for sid, as_of, through in conn.execute(
            select(
                subject_rerates.c.subject_id,
                subject_rerates.c.as_of,
                subject_rerates.c.through_record_id,
            )
        )
    }
    newest = {
        sid: int(newest)
        for sid, newest in conn.execute(
            select(records.c.subject_id, func.max(records.c.id))
            .where(records.c.id > run_through)
            .group_by(records.c.subject_id)
        )
    }
    return RatingState(run_as_of, run_through, rerated, newest)


def stored_listings(
    conn: Connection,
    lists: Sequence[tuple[int, str]],
    subject_ids: Sequence[int] | None = None,
    *,
    chunk: int = 1_000,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(subject, listing) for every stored listing on ``lists`` ((rulebook id, list name)),
    of the given subjects or of everyone."""
    if not lists:
        return
    on_lists = and_(
        listings.c.rulebook_id.in_(sorted({r for r, _ in lists})),
        listings.c.list_name.in_(sorted({n for _, n in lists})),
    )
    query = select(listings.c.subject_id, *(listings.c[c] for c in LISTING_COLUMNS)).where(on_lists)
    wanted = set(lists)
    parts: Iterator[Sequence[int] | None] = (
        iter([None])
        if subject_ids is None
        else (subject_ids[i : i + chunk] for i in range(0, len(subject_ids), chunk))
    )
    for part in parts:
        selected = query if part is None else query.where(listings.c.subject_id.in_(part))
        for row in conn.execute(selected):
            listing = _listing(row[1:])
            if (listing["rulebook_id"], listing["list_name"]) in wanted:
                yield row[0], listing


def subjects_with_records_of(
    conn: Connection, subject_ids: Sequence[int], record_types: Sequence[str], *, chunk: int = 1_000
) -> set[int]:
    """Those of ``subject_ids`` with at least one record of one of ``record_types``."""
    out: set[int] = set()
    if not record_types:
        return out
    for start in range(0, len(subject_ids), chunk):
        part = subject_ids[start : start + chunk]
        out.update(
            conn.execute(
                select(records.c.subject_id)
                .where(
                    records.c.subject_id.in_(part),
                    records.c.record_type.in_(sorted(record_types)),
                )
                .distinct()
            ).scalars()
        )
    return out


# --- the check log ---------------------------------------------------------------------------

_LOGGED = (*ASKED_COLUMNS, *ANSWER_COLUMNS)
_Binder = Callable[[Any], Any] | None


@lru_cache(maxsize=8)
def _binders(dialect: Dialect) -> tuple[_Binder, ...]:
    """Per logged column, what SQLAlchemy does to a value before the driver gets it."""
    return tuple(checks.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in _LOGGED)


def _bound(binder: _Binder, value: Any) -> Any:
    return value if binder is None or value is None else binder(value)


def log_checks(
    conn: Connection,
    asked: tuple[datetime, str, str, str, date],
    answers: Sequence[tuple[int | None, bool, int | None, date | None]],
) -> int:
    """Log checks that share what was asked (``ASKED_COLUMNS``), one row per answer
    (``ANSWER_COLUMNS``), inside the open transaction. Returns the rows written."""
    binders = _binders(conn.dialect)
    shared = tuple(_bound(b, v) for b, v in zip(binders, asked, strict=False))
    bind_until = binders[-1]
    ends: dict[date, Any] = {}

    def until(value: date | None) -> Any:
        if value is None:
            return None
        if value not in ends:
            ends[value] = _bound(bind_until, value)
        return ends[value]

    rows = [(*shared, s, applies, listing, until(end)) for s, applies, listing, end in answers]
    return insert_rows(conn, checks, _LOGGED, rows)


def log_counted(
    conn: Connection,
    asked: tuple[datetime, str, str, str, date],
    counted: Sequence[tuple[tuple[int | None, bool, int | None, date | None], int]],
) -> int:
    """Log checks that share what was asked as one row per distinct answer, with ``times`` the
    number of checks it stands for, inside the open transaction. Returns the rows written."""
    binders = _binders(conn.dialect)
    shared = tuple(_bound(b, v) for b, v in zip(binders, asked, strict=False))
    bind_until = binders[-1]
    rows = [
        (*shared, s, applies, listing, _bound(bind_until, end), times)
        for (s, applies, listing, end), times in counted
        if times > 0
    ]
    return insert_rows(conn, checks, (*_LOGGED, "times"), rows)


LogRow = tuple[datetime, str, str, str, date, int | None, bool, int | None, date | None]


def log_rows(conn: Connection, rows: Sequence[LogRow]) -> int:
    """Log checks that differ in what was asked: whole rows, in ``ASKED_COLUMNS`` then
    ``ANSWER_COLUMNS`` order."""
    binders = _binders(conn.dialect)
    converted = [tuple(_bound(b, v) for b, v in zip(binders, row, strict=True)) for row in rows]
    return insert_rows(conn, checks, _LOGGED, converted)


@lru_cache(maxsize=2)
def _insert_parts(on_sqlite: bool) -> tuple[str, str]:
    """``INSERT INTO checks (…) VALUES`` and one row's ``(…)`` of positional parameters."""
    dialect = (
        sqlite.dialect(paramstyle="qmark")
        if on_sqlite
        else postgresql.psycopg.dialect(paramstyle="format")  # type: ignore[no-untyped-call]
    )
    one = str(insert(checks).values(dict.fromkeys(_LOGGED)).compile(dialect=dialect))
    head, rest = one.split(" VALUES ", 1)
    # Up to the row's closing parenthesis: PostgreSQL's form goes on with RETURNING.
    return head + " VALUES ", rest[: rest.index(")") + 1]


class DriverLog:
    """The check log written on one driver connection kept for it.

    A batch of up to ``ROWS_PER_STATEMENT`` rows is ONE multi-row INSERT in autocommit mode:
    one call into the driver, one durable transaction. A group-commit writer thread runs it
    while other threads answer checks; each call into the driver hands the GIL over and back,
    which on a busy machine costs more than the call itself, so the fewer the better. Rows are
    put in the driver's form by ``bound``, on the callers' threads.
    """

    # SQLite binds at most 32,766 values per statement (9 per row here).
    ROWS_PER_STATEMENT = 1_000

    def __init__(self, store: Store) -> None:
        self._sqlite = store.dialect == "sqlite"
        self._binders = _binders(store.engine.dialect)
        self._head, self._row = _insert_parts(self._sqlite)
        self._held = _Held(store, 1, autocommit=True)

    def bound(self, row: LogRow) -> tuple[Any, ...]:
        """A row's columns after ``checked_at``, as the driver takes them."""
        return tuple(_bound(b, v) for b, v in zip(self._binders[1:], row[1:], strict=True))

    def _statement(self, at: Any, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
        values = [v for r in rows for v in (at, *r)]
        return self._head + ", ".join([self._row] * len(rows)), values

    def write(self, rows: Sequence[tuple[Any, ...]], *, at: datetime) -> None:
        """Commit rows made by ``bound``, all logged at ``at``, durably: all or none."""
        if not rows:
            return
        when = _bound(self._binders[0], at)
        pooled = self._held.acquire()
        driver = pooled.driver_connection
        step = self.ROWS_PER_STATEMENT
        try:
            if len(rows) <= step:
                driver.execute(*self._statement(when, rows))  # autocommit: its own transaction
            elif self._sqlite:
                driver.execute("BEGIN IMMEDIATE")
                try:
                    for start in range(0, len(rows), step):
                        driver.execute(*self._statement(when, rows[start : start + step]))
                    driver.execute("COMMIT")
                except BaseException:
                    driver.execute("ROLLBACK")
                    raise
            else:
                with driver.transaction():
                    for start in range(0, len(rows), step):
                        driver.execute(*self._statement(when, rows[start : start + step]))
        except BaseException:
            self._held.discard(pooled)
            raise
        self._held.release(pooled)

    def close(self) -> None:
        self._held.close()

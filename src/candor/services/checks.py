"""Checks: does a measure apply to an identifier on a date? The answer says nothing else.

Where an answer comes from: the subject's stored listings, once they account for every record
about it (a subject whose records changed is re-rated in the store first) and were computed for
the date asked or earlier (a listing's dates do not change as time passes). For an earlier date
the subject is rated in the store as of that date, if it has any record of a type that can
enter a list imposing the measure: without one it is on no such list on any date.

Every check is logged (client, purpose, time, subject, answer) before its answer is given:
- ``check`` answers one check and commits its log row itself (the command line);
- ``Checks`` answers the API's single checks, and ``CheckLog`` commits their rows by group
  commit: concurrent checks share one transaction and each waits for the commit that holds its
  row, so an answer is never returned before its row is durable, at one commit per batch;
- ``check_many`` answers a bulk check set-wise and logs its rows with ``executemany``/``COPY``.

One row per check, with one exception (the ``times`` column says how many checks a row stands
for, 1 everywhere else): a bulk check's identifiers that name no subject candor knows are logged
as ONE row per (request, answer) — client, purpose, time, measure, as_of, no subject, the
answer ("does not apply") — with ``times`` their number. Such a check cannot appear in any
subject's file (there is no subject to show it to), and the identifier itself is never kept, so
a million such rows would say nothing that one row with a count does not; writing them was most
of a large bulk check's time. Should one of those identifiers later come to name a subject, the
checks made before cannot be attributed to it either way. Checks about known subjects, and every
single check, keep a row each.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from candor.domain import identifier_columns
from candor.domain.identifiers import InvalidIdentifier, parse_identifier
from candor.domain.listings import effective_end, in_force
from candor.domain.pseudonyms import Hashed, IdentifierHasher
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook
from candor.errors import InvalidInput, NotFound, PayloadTooLarge, StaleSecret
from candor.services.rating import rate_subject, ratings_of, rerate_subject
from candor.services.rulebooks import governing
from candor.services.secret import KeyRing
from candor.store import checks as stored
from candor.store import objections as objection_rows
from candor.store.database import Store

# The most identifiers one bulk check may carry: a day's passenger lists of a large airline.
BULK_CHECK_LIMIT = 1_000_000
# Bulk log rows per committed transaction, so that other writers are not held off for long.
BULK_LOG_ROWS = 100_000
# Above this many subjects, a bulk check reads every stored listing of the measure's lists
# instead of looking its subjects' listings up (a list is far smaller than a bulk request).
_SCAN_LISTS_FROM = 5_000
REFERENCE_FORM = "expected SCHEME:IDENTIFIER, e.g. cn_resident_id:…"
ITEM_FORM = "expected SCHEME:IDENTIFIER or an object with scheme and identifier"


class InvalidIdentifierError(InvalidInput):
    """An identifier that fails its scheme's rules; the detail names the rule, never the value."""

    STATUS = 422
    TYPE = "invalid-identifier"
    TITLE = "Invalid identifier"


@dataclass(frozen=True)
class CheckAnswer:
    measure: str
    as_of: date
    applies: bool
    listing: str | None  # the listing's public reference
    until: date | None
    how_to_object: str | None
    # An objection by the subject is open: the answer may change when it is decided.
    disputed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "as_of": self.as_of.isoformat(),
            "applies": self.applies,
            "listing": self.listing,
            "until": self.until.isoformat() if self.until else None,
            "how_to_object": self.how_to_object,
            "disputed": self.disputed,
        }


@dataclass(frozen=True, slots=True)
class Asked:
    """Who asked and why: logged with every answer."""

    client: str
    purpose: str


@dataclass(frozen=True, slots=True)
class Found:
    """An answer, and what the log keeps of it besides: the subject and the listing."""

    answer: CheckAnswer
    subject_id: int | None
    listing_id: int | None
    at: datetime

    def log_row(self, asked: Asked) -> stored.LogRow:
        a = self.answer
        return (
            self.at,
            asked.client,
            asked.purpose,
            a.measure,
            a.as_of,
            self.subject_id,
            a.applies,
            self.listing_id,
            a.until,
        )


def split_reference(reference: str) -> tuple[str, str]:
    """``SCHEME:IDENTIFIER`` as (scheme, identifier).

    Raises:
        InvalidIdentifierError: there is no scheme or no identifier.
    """
    scheme, sep, raw = reference.partition(":")
    if not sep or not raw:
        raise InvalidIdentifierError(REFERENCE_FORM)
    return scheme, raw


# --- the rulebooks governing a date ------------------------------------------------------------


class Measures:
    """The rulebook versions governing one date and, per measure, the lists imposing it."""

    def __init__(self, rulebooks: list[ActiveRulebook], as_of: date) -> None:
        self.rulebooks = rulebooks
        self.as_of = as_of
        self._imposing: dict[str, dict[tuple[int, str], str]] = {}

    def imposing(self, measure: str) -> dict[tuple[int, str], str]:
        """(rulebook id, list name) → how to object, for every list imposing ``measure`` (none
        for a reward that grades earn: see ``graded``).

        Raises:
            NotFound: no rulebook governing the date defines ``measure``.
        """
        found = self._imposing.get(measure)
        if found is None:
            found = {}
            for active in self.rulebooks:
                spec = active.rulebook.measures.get(measure)
                if spec is None:
                    continue
                for name in spec.imposed_by:
                    found[(active.id, name)] = active.rulebook.lists[name].how_to_object
            self._imposing[measure] = found
        if not found and not self.graded(measure):
            raise NotFound(f"no rulebook in force on {self.as_of} defines the measure {measure!r}")
        return found

    def graded(self, measure: str) -> dict[int, frozenset[str]]:
        """Rulebook id → the grades that earn ``measure``, for a reward tied to grades."""
        return {
            active.id: frozenset(spec.grades)
            for active in self.rulebooks
            if (spec := active.rulebook.measures.get(measure)) is not None and spec.grades
        }

    def entry_types(self, measure: str) -> list[str]:
        """The record types that can put a subject on a list imposing ``measure``."""
        lists = self.imposing(measure)
        return sorted(
            {
                c.record_type
                for active in self.rulebooks
                for name, spec in active.rulebook.lists.items()
                if (active.id, name) in lists
                for c in spec.entry
            }
        )


class _GoverningCache:
    """``Measures`` per date, dropped whenever a rulebook version is activated.

    Rulebook versions are only ever added, so the newest id (read in the same statement as the
    subject) tells whether anything changed since the cache was filled.
    """

    def __init__(self, store: Store, size: int = 512) -> None:
        self._store = store
        self._size = size
        self._marker: int | None = None
        self._by_date: dict[date, Measures] = {}
        self._lock = threading.Lock()

    def get(self, as_of: date, marker: int) -> Measures:
        with self._lock:
            if marker != self._marker:
                self._by_date.clear()
                self._marker = marker
            found = self._by_date.get(as_of)
        if found is None:
            # Read after the marker: at least as new as it, so never stale under it.
            found = Measures(governing(self._store, as_of), as_of)
            with self._lock:
                if self._marker == marker:
                    if len(self._by_date) >= self._size:
                        self._by_date.clear()
                    self._by_date[as_of] = found
        return found


def _decide(
    rows: Iterable[dict[str, Any]], imposing: Mapping[tuple[int, str], str], as_of: date
) -> dict[str, Any] | None:
    """Of the listings imposing the measure and in force on ``as_of``, the one in force longest
    (it decides ``until``); None when there is none."""
    best: dict[str, Any] | None = None
    best_end = date.min
    for row in rows:
        if (row["rulebook_id"], row["list_name"]) in imposing and in_force(row, as_of):
            end = effective_end(row) or date.max
            if best is None or end > best_end:
                best, best_end = row, end
    return best


def _in_store(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (row for row in rows if row["withdrawn_on"] is None)


def _earns(ratings: Iterable[dict[str, Any]], graded: Mapping[int, frozenset[str]]) -> bool:
    """Whether a subject's ratings earn a reward tied to grades: scored, with consent, in one
    of the grades under a rulebook that ties the reward to them."""
    return any(r["consented"] and r["grade"] in graded.get(r["rulebook_id"], ()) for r in ratings)


def _as_of_earlier(
    store: Store,
    registry: Registry,
    subject_id: int,
    saved: Iterable[dict[str, Any]],
    imposing: Mapping[tuple[int, str], str],
    as_of: date,
) -> dict[str, Any] | None:
    """The deciding listing for a date before the stored listings' date: rated in the store as
    of that date, with each listing's stored reference where it is stored."""
    _, rows = rate_subject(store, registry, subject_id, as_of=as_of)
    refs = {(r["rulebook_id"], r["list_name"], r["record_id"]): r for r in saved}
    computed = []
    for row in rows.listings:
        kept = refs.get((row["rulebook_id"], row["list_name"], row["record_id"]), {})
        computed.append({**row, "ref": kept.get("ref"), "id": kept.get("id")})
    return _decide(computed, imposing, as_of)


# --- single checks ---------------------------------------------------------------------------


class Checks:
    """Answers single checks for one store: the hot path of the API.

    One statement reads the subject's state (``candor.store.checks.DriverReads``); the rulebooks
    governing each date are cached until a rulebook version is activated. Logging is the
    caller's: ``Found.log_row`` gives the row.
    """

    def __init__(
        self,
        store: Store,
        registry: Registry,
        hasher: IdentifierHasher | KeyRing,
        *,
        readers: int = 4,
    ) -> None:
        """``hasher`` may be a ``KeyRing``: a server's, which follows key rotations."""
        self.store = store
        self.registry = registry
        self._keys = hasher
        self._reads = stored.DriverReads(store, readers)
        self._governing = _GoverningCache(store)

    @property
    def hasher(self) -> IdentifierHasher:
        """The identifier keys now (a ``KeyRing``'s current ones)."""
        keys = self._keys
        return keys if isinstance(keys, IdentifierHasher) else keys.current()

    def close(self) -> None:
        self._reads.close()

    def __enter__(self) -> Checks:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def measures(self, as_of: date) -> Measures:
        with self.store.read() as conn:
            marker = stored.rulebooks_marker(conn)
        return self._governing.get(as_of, marker)

    def answer(self, scheme: str, raw: str, measure: str, *, as_of: date, today: date) -> Found:
        """Answer one check (not logged).

        Raises:
            InvalidIdentifierError: the identifier fails its scheme's rules.
            NotFound: no rulebook governing ``as_of`` defines ``measure``.
        """
        found = self._answer(scheme, raw, measure, as_of=as_of, today=today, rate=True)
        assert found is not None  # with rating work allowed there is always an answer
        return found

    def answer_from_store(
        self, scheme: str, raw: str, measure: str, *, as_of: date, today: date
    ) -> Found | None:
        """Answer one check from stored listings alone, in one read; None when the answer
        needs rating work first (records arrived since, or a date before the stored listings'),
        which ``answer`` does. Raises as ``answer`` does."""
        return self._answer(scheme, raw, measure, as_of=as_of, today=today, rate=False)

    def _answer(
        self, scheme: str, raw: str, measure: str, *, as_of: date, today: date, rate: bool
    ) -> Found | None:
        try:
            parsed = parse_identifier(scheme, raw, today=today)
        except InvalidIdentifier as e:
            raise InvalidIdentifierError(f"identifier: {e}") from None
        keys = self._keys
        hasher = keys if isinstance(keys, IdentifierHasher) else keys.current()
        pair = [(parsed.scheme.value, parsed.value)]
        hashed = hasher.hashed(pair)
        state = self._reads.state(hashed)
        if state.identifier_key > hasher.key_id:
            # A rotation has begun that this process has not seen: its hash may have moved.
            if isinstance(keys, IdentifierHasher):
                raise StaleSecret(hasher.key_id, state.identifier_key)
            hashed = keys.catch_up(state.identifier_key).hashed(pair)
            state = self._reads.state(hashed)
        measures = self._governing.get(as_of, state.rulebooks_marker)
        imposing = measures.imposing(measure)
        subject_id = state.subject_id
        if subject_id is None:
            return _found(measure, as_of, None, None, imposing)
        if graded := measures.graded(measure):
            # A grade changes as records age out of their windows: it is rated for the date
            # asked, never read from a stored rating of another date.
            if not rate:
                return None
            chosen = None
            if imposing:
                chosen = _as_of_earlier(
                    self.store, self.registry, subject_id, state.listings, imposing, as_of
                )
            _, rows = rate_subject(self.store, self.registry, subject_id, as_of=as_of)
            earned = chosen is None and _earns(rows.ratings, graded)
            return _found(measure, as_of, subject_id, chosen, imposing, state.disputed, earned)
        current = not state.stale and state.rated_for is not None and state.rated_for <= as_of
        if not (current or rate):
            return None
        if state.stale:
            # Bring the stored listings up to date first, so that every listing has its reference.
            rerate_subject(self.store, self.registry, subject_id, today=today)
            state = self._reads.state(hashed)
        chosen = None
        if state.rated_for is not None and state.rated_for <= as_of:
            chosen = _decide(_in_store(state.listings), imposing, as_of)
        elif self._may_be_listed(subject_id, measures, measure):
            chosen = _as_of_earlier(
                self.store, self.registry, subject_id, state.listings, imposing, as_of
            )
        return _found(measure, as_of, subject_id, chosen, imposing, state.disputed)

    def _may_be_listed(self, subject_id: int, measures: Measures, measure: str) -> bool:
        with self.store.read() as conn:
            return bool(
                stored.subjects_with_records_of(conn, [subject_id], measures.entry_types(measure))
            )


def _found(
    measure: str,
    as_of: date,
    subject_id: int | None,
    chosen: dict[str, Any] | None,
    imposing: Mapping[tuple[int, str], str],
    disputed: bool = False,
    earned: bool = False,
) -> Found:
    """The answer: a listing ``chosen`` decides it, or a grade that ``earned`` a reward (which
    has no listing, no end and nothing to object to: the answer says only that it applies)."""
    answer = CheckAnswer(
        measure=measure,
        as_of=as_of,
        applies=chosen is not None or earned,
        listing=chosen.get("ref") if chosen else None,
        until=effective_end(chosen) if chosen else None,
        how_to_object=imposing[(chosen["rulebook_id"], chosen["list_name"])] if chosen else None,
        disputed=disputed,
    )
    return Found(answer, subject_id, chosen.get("id") if chosen else None, datetime.now(UTC))


def check(
    store: Store,
    registry: Registry,
    hasher: IdentifierHasher,
    reference: str,
    measure: str,
    *,
    as_of: date,
    today: date,
    client: str,
    purpose: str,
) -> CheckAnswer:
    """Answer a check and log it (client, purpose, time, subject, answer) before returning.

    Raises:
        NotFound: no rulebook governing ``as_of`` defines ``measure``.
        InvalidIdentifierError: the identifier reference is malformed or invalid.
    """
    scheme, raw = split_reference(reference)
    with Checks(store, registry, hasher, readers=1) as checks:
        found = checks.answer(scheme, raw, measure, as_of=as_of, today=today)
    with store.write() as conn:
        stored.log_rows(conn, [found.log_row(Asked(client, purpose))])
    return found.answer


# --- the group-commit log ----------------------------------------------------------------------


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # its request was cancelled meanwhile
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


@dataclass(slots=True)
class _Pending:
    row: tuple[Any, ...]  # the answer's columns in the driver's form (``DriverLog.bound``)
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class CheckLog:
    """Group commit of the API's check log, on a writer thread.

    The writer takes every row waiting, commits them in one durable transaction (one multi-row
    INSERT), then wakes every waiting check, one wake-up per event loop; rows that arrive
    meanwhile form the next batch. When a commit fails, every check of its batch gets the error
    and is not answered. A batch's rows are logged at the time of its commit. ``close`` commits
    what is queued.

    Under load the writer lingers (PostgreSQL's ``commit_delay`` with ``commit_siblings``): when
    the rows of the last batch arrived fast enough that more are expected within ``linger``, it
    waits up to ``linger`` for them before committing. Measured at 2,000 checks/s: batches of
    9 rows instead of 1.1, a tenth of the commits, and each check's read in the store a third
    faster, since every commit to the store's file makes the readers start afresh. A check
    arriving alone never waits.

    Why a thread and not the event loop itself: a commit waits for the disk, and on the loop
    that wait would stop every other request (measured: under disk contention a commit on the
    loop halved throughput). The writer needs the GIL only a few times per batch.
    """

    def __init__(self, store: Store, *, max_batch: int = 5_000, linger: float = 0.002) -> None:
        self._log = stored.DriverLog(store)
        self._max_batch = max_batch
        self._linger = linger
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.commits = 0
        self.rows = 0
        self._thread = threading.Thread(target=self._run, name="candor-check-log", daemon=True)
        self._thread.start()

    async def write(self, row: stored.LogRow) -> None:
        """Log one check; resume once its row is committed (the loop serves others meanwhile)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        pending = _Pending(self._log.bound(row), future, loop)
        with self._lock:
            if self._closed:
                raise RuntimeError("the check log is closed")
            self._queue.put(pending)
        await future

    def close(self) -> None:
        """Commit every queued row, then stop the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        self._log.close()

    def _run(self) -> None:
        previous: float | None = None  # when the last batch was taken
        expected = 0.0  # rows the last batch's arrival rate promises within ``linger``
        while True:
            first = self._queue.get()
            if first is None:
                return
            taken = time.perf_counter()
            deadline = taken + (self._linger if expected >= 1 else 0.0)
            batch, last = [first], False
            while len(batch) < self._max_batch:
                wait = deadline - time.perf_counter()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    last = True
                    break
                batch.append(item)
            if previous is not None:
                expected = len(batch) / max(taken - previous, 1e-6) * self._linger
            previous = taken
            self._commit(batch)
            if last:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        error: BaseException | None = None
        try:
            self._log.write([p.row for p in batch], at=datetime.now(UTC))
            self.commits += 1
            self.rows += len(batch)
        except Exception as e:  # every check of the batch fails with it, unanswered
            error = e
        on_loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for pending in batch:
            on_loops.setdefault(pending.loop, []).append(pending.future)
        for loop, futures in on_loops.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, futures, error)


# --- bulk checks --------------------------------------------------------------------------------


@dataclass
class BulkAnswer:
    """Answers in the order of the identifiers: ``{applies, listing, until}`` per valid
    identifier, ``{error}`` naming the rule an invalid one fails."""

    measure: str
    as_of: date
    answers: list[dict[str, Any]]
    applies: int = 0
    invalid: int = 0
    rerated: int = 0
    stages: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "as_of": self.as_of.isoformat(),
            "checked": len(self.answers) - self.invalid,
            "applies": self.applies,
            "invalid": self.invalid,
            "answers": self.answers,
        }


_NOT_APPLYING: dict[str, Any] = {
    "applies": False,
    "listing": None,
    "until": None,
    "disputed": False,
}
_NOT_APPLYING_DISPUTED: dict[str, Any] = {**_NOT_APPLYING, "disputed": True}
# A reward a grade earns: no listing, no end.
_EARNED: dict[str, Any] = {**_NOT_APPLYING, "applies": True}
_EARNED_DISPUTED: dict[str, Any] = {**_EARNED, "disputed": True}


def _pair(item: object) -> tuple[str, str] | None:
    """(scheme, identifier) of a pair or of a mapping with exactly those two keys."""
    if isinstance(item, tuple) and len(item) == 2:
        scheme, raw = item
    elif isinstance(item, Mapping) and len(item) == 2:
        scheme, raw = item.get("scheme"), item.get("identifier")
    else:
        return None
    return (scheme, raw) if isinstance(scheme, str) and isinstance(raw, str) else None


def _split(items: Sequence[object]) -> pl.DataFrame:
    """Scheme and identifier of every item (``scheme``, ``raw``), and whether the item had that
    shape at all (``shaped``).

    The usual request, all ``SCHEME:IDENTIFIER`` texts, is split a column at a time; one with
    other items (objects, or anything else) is split item by item.
    """
    try:
        refs = pl.Series("ref", items, dtype=pl.String, strict=True)
    except TypeError:
        return _split_items(items)
    parts = refs.str.extract_groups(r"(?s)^([^:]*):(.+)$").struct.rename_fields(["scheme", "raw"])
    return (
        pl.DataFrame({"parts": parts})
        .unnest("parts")
        .select(
            pl.col("scheme").fill_null(""),
            pl.col("raw").fill_null(""),
            pl.col("raw").is_not_null().alias("shaped"),
        )
    )


def _split_items(items: Sequence[object]) -> pl.DataFrame:
    schemes: list[str] = []
    raws: list[str] = []
    shaped: list[bool] = []
    add_scheme, add_raw, add_shaped = schemes.append, raws.append, shaped.append
    for item in items:
        if isinstance(item, str):
            scheme, sep, raw = item.partition(":")
            if sep and raw:
                add_scheme(scheme)
                add_raw(raw)
                add_shaped(True)
                continue
        else:
            pair = _pair(item)
            if pair is not None:
                add_scheme(pair[0])
                add_raw(pair[1])
                add_shaped(True)
                continue
        add_scheme("")
        add_raw("")
        add_shaped(False)
    return pl.DataFrame(
        {"scheme": schemes, "raw": raws, "shaped": shaped},
        schema={"scheme": pl.String, "raw": pl.String, "shaped": pl.Boolean},
    )


class _Stages:
    """Seconds spent per stage of a bulk check (for the benchmark and the logs)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._mark, 3)
        self._mark = now


def _checked_and_hashed(
    identifiers: Sequence[object], hasher: IdentifierHasher, today: date
) -> tuple[list[str | None], Hashed]:
    """Per identifier, why it is refused (None: valid); and the keyed hashes of the valid ones,
    in order. Shape and scheme rules are checked a column at a time."""
    frame = _split(identifiers)
    scheme, value = pl.col("scheme"), pl.col("value")
    frame = frame.with_columns(identifier_columns.normalised(scheme, pl.col("raw")).alias("value"))
    rule = identifier_columns.problem(scheme, value, today=pl.lit(today))
    frame = frame.select(
        scheme,
        value,
        pl.when(pl.col("shaped"))
        .then(pl.lit("identifier: ") + rule)
        .otherwise(pl.lit(ITEM_FORM))
        .alias("problem"),
    )
    problems: list[str | None] = frame.get_column("problem").to_list()
    valid = frame.filter(pl.col("problem").is_null())
    del frame
    hashed = hasher.hashed(
        zip(valid.get_column("scheme").to_list(), valid.get_column("value").to_list(), strict=True)
    )
    return problems, hashed


_LogAnswer = tuple[int | None, bool, int | None, date | None]


def _answers(
    problems: list[str | None],
    subjects: list[int | None],
    chosen: Mapping[int, dict[str, Any]],
    disputed: set[int],
    earned: Collection[int] = (),
) -> tuple[list[dict[str, Any]], list[_LogAnswer], int]:
    """The response entries in order; the log's answers for the valid identifiers that name a
    subject; and how many valid identifiers name none (each answered "does not apply").

    Entries alike are one shared object (every "does not apply", every same error), so a
    million answers cost a list of references, not a million dictionaries.
    """
    answers: list[dict[str, Any]] = []
    logged: list[_LogAnswer] = []
    unnamed = 0
    errors: dict[str, dict[str, Any]] = {}
    by_subject = iter(subjects)
    for problem in problems:
        if problem is not None:
            answers.append(errors.setdefault(problem, {"error": problem}))
            continue
        subject_id = next(by_subject)
        if subject_id is None:
            answers.append(_NOT_APPLYING)
            unnamed += 1
            continue
        listing = chosen.get(subject_id)
        if listing is None and subject_id in earned:
            answers.append(_EARNED_DISPUTED if subject_id in disputed else _EARNED)
            logged.append((subject_id, True, None, None))
        elif listing is None:
            answers.append(_NOT_APPLYING_DISPUTED if subject_id in disputed else _NOT_APPLYING)
            logged.append((subject_id, False, None, None))
        else:
            until = effective_end(listing)
            answers.append(
                {
                    "applies": True,
                    "listing": listing.get("ref"),
                    "until": until.isoformat() if until else None,
                    "disputed": subject_id in disputed,
                }
            )
            logged.append((subject_id, True, listing.get("id"), until))
    return answers, logged, unnamed


def check_many(
    store: Store,
    registry: Registry,
    hasher: IdentifierHasher,
    identifiers: Sequence[object],
    measure: str,
    *,
    as_of: date,
    today: date,
    client: str,
    purpose: str,
    limit: int = BULK_CHECK_LIMIT,
    measures: Measures | None = None,
) -> BulkAnswer:
    """Answer one measure for many identifiers, and log every answer before returning.

    Each identifier is ``SCHEME:IDENTIFIER`` text, a (scheme, identifier) pair or a mapping
    with ``scheme`` and ``identifier``. An invalid one gets an error entry naming the rule it
    fails; the others are answered. Identifiers are checked and hashed column-wise, subjects and
    listings are read set-wise, subjects whose records changed are re-rated first, and the log
    rows go in with one ``executemany`` (``COPY``) per ``BULK_LOG_ROWS``: a row per identifier
    that names a subject, and one counted row for all those that name none (see the module).

    Raises:
        PayloadTooLarge: more than ``limit`` identifiers.
        NotFound: no rulebook governing ``as_of`` defines ``measure``.
    """
    if len(identifiers) > limit:
        raise PayloadTooLarge(
            f"a bulk check takes at most {limit:,} identifiers; split the list", limit=limit
        )
    stages = _Stages()
    if measures is None or measures.as_of != as_of:
        measures = Measures(governing(store, as_of), as_of)
    imposing = measures.imposing(measure)
    at = datetime.now(UTC)
    problems, hashed = _checked_and_hashed(identifiers, hasher, today)
    stages.done("validate and hash")

    with store.read() as conn:
        subjects = stored.subject_ids(conn, hashed)
        state = stored.rating_state(conn)
    del hashed
    known = sorted({s for s in subjects if s is not None})
    stages.done("subjects")
    stale = [s for s in known if state.stale(s)]
    for subject_id in stale:
        rerate_subject(store, registry, subject_id, today=today)
    if stale:
        with store.read() as conn:
            state = stored.rating_state(conn)
    stages.done("re-rate")
    chosen = _bulk_listings(store, registry, known, state, measures, measure, imposing, as_of)
    earned: set[int] = set()
    if graded := measures.graded(measure):
        unlisted = [s for s in known if s not in chosen]
        rated = ratings_of(store, registry, unlisted, as_of=as_of)
        earned = {s for s, rows in rated.items() if _earns(rows, graded)}
    with store.read() as conn:
        disputed = objection_rows.disputed(conn, known)
    stages.done("listings")
    answers, logged, unnamed = _answers(problems, subjects, chosen, disputed, earned)
    stages.done("answers")

    asked = (at, client, purpose, measure, as_of)
    for start in range(0, max(len(logged), 1), BULK_LOG_ROWS):
        with store.write() as conn:
            if not start:  # the identifiers naming no subject: one row, with their count
                stored.log_counted(conn, asked, [((None, False, None, None), unnamed)])
            stored.log_checks(conn, asked, logged[start : start + BULK_LOG_ROWS])
    stages.done("log")
    return BulkAnswer(
        measure,
        as_of,
        answers,
        applies=sum(1 for _, applies, _, _ in logged if applies),
        invalid=len(answers) - len(logged) - unnamed,
        rerated=len(stale),
        stages=stages.seconds,
    )


def _bulk_listings(
    store: Store,
    registry: Registry,
    known: list[int],
    state: stored.RatingState,
    measures: Measures,
    measure: str,
    imposing: Mapping[tuple[int, str], str],
    as_of: date,
) -> dict[int, dict[str, Any]]:
    """Per subject of ``known``, the listing that decides its answer (absent: none applies)."""
    current = [s for s in known if (r := state.rated_for(s)) is not None and r <= as_of]
    earlier = [s for s in known if (r := state.rated_for(s)) is None or r > as_of]
    lists = sorted(imposing)
    chosen: dict[int, dict[str, Any]] = {}
    by_subject: dict[int, list[dict[str, Any]]] = {}
    with store.read() as conn:
        if current:
            wanted = set(current)
            everyone = len(current) >= _SCAN_LISTS_FROM
            for subject_id, row in stored.stored_listings(
                conn, lists, None if everyone else current
            ):
                if subject_id in wanted and row["withdrawn_on"] is None:
                    by_subject.setdefault(subject_id, []).append(row)
        candidates = (
            stored.subjects_with_records_of(conn, earlier, measures.entry_types(measure))
            if earlier
            else set()
        )
        saved: dict[int, list[dict[str, Any]]] = {}
        if candidates:
            for subject_id, row in stored.stored_listings(conn, lists, sorted(candidates)):
                saved.setdefault(subject_id, []).append(row)
    for subject_id, rows in by_subject.items():
        if (best := _decide(rows, imposing, as_of)) is not None:
            chosen[subject_id] = best
    for subject_id in sorted(candidates):
        best = _as_of_earlier(
            store, registry, subject_id, saved.get(subject_id, []), imposing, as_of
        )
        if best is not None:
            chosen[subject_id] = best
    return chosen

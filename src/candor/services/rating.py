"""Rating: every subject in a batch on DuckDB, one subject inside the store, and explanations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from candor.domain.identifiers import InvalidIdentifier, parse_identifier
from candor.domain.listings import in_force
from candor.domain.pseudonyms import IdentifierHasher
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook
from candor.engine.execute import Rows, run_batch, run_in_store
from candor.errors import InvalidInput
from candor.services import subject_notices
from candor.services.rulebooks import governing, plan_for
from candor.store import export, identifier_keys
from candor.store import ratings as stored
from candor.store import subjects as subject_rows
from candor.store.database import Store

Progress = Callable[[str], None]


def _no_progress(_stage: str) -> None:
    return None


@dataclass(frozen=True)
class RateSummary:
    subjects: int
    seconds: float
    as_of: date
    grades: dict[str, dict[str, int]]  # per rulebook key: grade -> subjects
    not_scored: dict[str, int]  # per rulebook key: subjects without consent
    listings: dict[str, int]  # per list: listings in force on as_of
    stored: bool
    # Per rulebook key, the rules that lowered (or raised) most scores: rule, subjects, points.
    reasons: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Seconds per stage: read (of which catch_up: bringing the records mirror up to date),
    # rate (the plan on DuckDB), store (comparing with the stored rows, writing the changes).
    stages: dict[str, float] = field(default_factory=dict)
    # Rows written: ratings, rating_changes, listings_added, listings_changed,
    # listings_withdrawn; and mirrored, the records the mirror caught up with.
    written: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        grades: dict[str, int] = {}
        for by_grade in self.grades.values():
            for grade, n in by_grade.items():
                grades[grade] = grades.get(grade, 0) + n
        return {
            "subjects": self.subjects,
            "seconds": round(self.seconds, 3),
            "as_of": self.as_of.isoformat(),
            "grades": grades,
            "grades_by_rulebook": self.grades,
            "not_scored": self.not_scored,
            "listings": self.listings,
            "reasons": self.reasons,
            "stored": self.stored,
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            "written": self.written,
        }


def rate_all(
    store: Store,
    registry: Registry,
    *,
    as_of: date,
    today: date,
    on_progress: Progress = _no_progress,
    mirror_dir: Path | None = None,
) -> RateSummary:
    """Rate every subject as of ``as_of`` on DuckDB. Ratings and listings are stored when
    ``as_of`` is today; a rating of another date is computed and reported only.

    Records are read through the store's columnar mirror (``store.mirror``: next to a SQLite
    file, or under ``mirror_dir``), caught up first with the records added since the last run.
    """
    started = time.perf_counter()
    stages: dict[str, float] = {}
    rulebooks = governing(store, as_of)
    if not rulebooks:
        raise InvalidInput(
            f"no rulebook governs {as_of}; activate one with `candor rulebook activate`"
        )
    plan = plan_for(rulebooks, registry, one_subject=False)
    types = sorted(set().union(*(a.rulebook.record_types() for a in rulebooks)))
    on_progress("reading records")
    with store.read() as conn:
        through = stored.watermark(conn)
    mark = time.perf_counter()
    caught = export.catch_up(store, through, mirror_dir=mirror_dir)
    records = export.records(store, types, as_of, through, mirror_dir=mirror_dir)
    subjects = export.subjects(store)
    stages["read"] = time.perf_counter() - mark
    stages["catch_up"] = caught.seconds
    on_progress("rating")
    mark = time.perf_counter()
    out = run_batch(plan, records, subjects, as_of)
    stages["rate"] = time.perf_counter() - mark
    keys = {a.id: a.rulebook.key for a in rulebooks}
    listings = out["listings"].to_pylist()
    written = {"mirrored": caught.added}
    write = as_of == today
    if write:
        on_progress("storing")
        mark = time.perf_counter()
        written |= _store_batch(
            store, rulebooks, out["ratings"], out["listings"], out["contributions"], as_of, through
        )
        stages["store"] = time.perf_counter() - mark
    return RateSummary(
        subjects=subjects.num_rows,
        seconds=time.perf_counter() - started,
        as_of=as_of,
        grades=_grades(out["ratings"], rulebooks),
        not_scored=_not_scored(out["ratings"], keys),
        listings=_listing_counts(listings, as_of, rulebooks),
        stored=write,
        reasons=_reasons(out["ratings"], out["contributions"], keys),
        stages=stages,
        written=written,
    )


def _grades(ratings: pa.Table, rulebooks: list[ActiveRulebook]) -> dict[str, dict[str, int]]:
    """Subjects per grade, per rulebook, best grade first."""
    scored = ratings.filter(
        pc.and_(pc.equal(ratings["consented"], 1), pc.is_valid(ratings["grade"]))
    )
    counted = scored.group_by(["rulebook_id", "grade"]).aggregate([([], "count_all")])
    found = {(r["rulebook_id"], r["grade"]): r["count_all"] for r in counted.to_pylist()}
    out: dict[str, dict[str, int]] = {}
    for active in rulebooks:
        if active.rulebook.grades is None:
            continue
        by_grade = {
            band.grade: found[(active.id, band.grade)]
            for band in active.rulebook.grades.bands
            if (active.id, band.grade) in found
        }
        if by_grade:
            out[active.rulebook.key] = by_grade
    return out


REASONS_SHOWN = 5


def _reasons(
    ratings: pa.Table, contributions: pa.Table, keys: dict[int, str]
) -> dict[str, list[dict[str, Any]]]:
    """The rules that count for most scored subjects, per rulebook (cap lines left out)."""
    con = duckdb.connect()
    try:
        con.register("ratings", ratings)
        con.register("contributions", contributions)
        rows = con.sql(
            "SELECT c.rulebook_id, c.rule_id, COUNT(DISTINCT c.subject_id) AS subjects, "
            "CAST(SUM(c.points) AS BIGINT) AS points FROM contributions c "
            "JOIN ratings r ON r.rulebook_id = c.rulebook_id AND r.subject_id = c.subject_id "
            "WHERE r.consented = 1 AND c.record_id IS NOT NULL "
            "GROUP BY c.rulebook_id, c.rule_id ORDER BY c.rulebook_id, subjects DESC, c.rule_id"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[dict[str, Any]]] = {}
    for rulebook_id, rule, subjects, points in rows:
        shown = out.setdefault(keys[rulebook_id], [])
        if len(shown) < REASONS_SHOWN:
            shown.append({"rule": rule, "subjects": subjects, "points": points})
    return out


def _not_scored(ratings: pa.Table, keys: dict[int, str]) -> dict[str, int]:
    unscored = ratings.filter(pc.equal(ratings["consented"], 0))
    counted = unscored.group_by("rulebook_id").aggregate([([], "count_all")])
    return {keys[row["rulebook_id"]]: row["count_all"] for row in counted.to_pylist()}


def _listing_counts(
    listings: list[dict[str, Any]], as_of: date, rulebooks: list[ActiveRulebook]
) -> dict[str, int]:
    counts = {name: 0 for a in rulebooks for name in a.rulebook.lists}
    for row in listings:
        if in_force(row, as_of):
            counts[row["list_name"]] += 1
    return counts


def _rating_rows(computed: list[dict[str, Any]], as_of: date) -> list[dict[str, Any]]:
    """The plan's rating rows as the store keeps them."""
    return [
        {
            "rulebook_id": r["rulebook_id"],
            "subject_id": r["subject_id"],
            "as_of": as_of,
            "consented": bool(r["consented"]),
            "score": r["score"],
            "grade": r["grade"],
        }
        for r in computed
    ]


def _store_batch(
    store: Store,
    rulebooks: list[ActiveRulebook],
    ratings: pa.Table,
    listings: pa.Table,
    contributions: pa.Table,
    as_of: date,
    through: int,
) -> dict[str, int]:
    """Store what changed since the stored ratings and listings; returns rows written.

    The stored rows are read inside the write transaction (on PostgreSQL on a connection of
    their own, while ``lock_for_batch`` keeps one-subject re-rates from changing them).

    Subjects re-rated in the store from records beyond ``through`` — a check or an API
    ingestion re-rated them while this run was reading and rating — are left as they are: this
    run computed them from fewer records. Overwriting them used to withdraw a listing that a
    newer record had just entered (its record is above ``through``, so this run does not
    compute it) and put back an older rating, while their re-rating's ``through_record_id``
    (kept by ``finish_run``) told checks the stored rows were current: a listed subject's check
    answered "does not apply" until the next run (tests/hardening/test_concurrency.py).
    """
    now = datetime.now(UTC)
    ids = [a.id for a in rulebooks]
    with store.write() as conn:
        stored.lock_for_batch(conn)
        # Read under the lock: on PostgreSQL no re-rate can commit from here to the commit.
        newer = stored.rerated_after(conn, through)
        run_id = stored.start_run(conn, as_of, through, now)
        previous = stored.without_subjects(export.ratings(store, conn, ids), newer)
        changed = stored.batch_rating_changes(stored.without_subjects(ratings, newer), previous)
        written, history = stored.save_batch_ratings(conn, changed, as_of, now)
        kept = stored.without_subjects(export.listings(store, conn, ids), newer)
        listing_changes = stored.batch_listing_changes(
            stored.without_subjects(listings, newer), kept
        )
        added, redone, withdrawn = stored.save_batch_listings(conn, listing_changes, as_of, now)
        told = subject_notices.listing_phases(conn, rulebooks, as_of, now)
        told += _tell_grade_falls(conn, rulebooks, changed, contributions, now)
        subjects = pc.count_distinct(ratings["subject_id"]).as_py() if ratings.num_rows else 0
        stored.finish_run(conn, run_id, subjects, now)
    return {
        "ratings": written,
        "rating_changes": history,
        "listings_added": added,
        "listings_changed": redone,
        "listings_withdrawn": withdrawn,
        "notices": told,
    }


def _tell_grade_falls(
    conn: Connection,
    rulebooks: list[ActiveRulebook],
    changed: pa.Table,
    contributions: pa.Table,
    now: datetime,
) -> int:
    """Notices for the grades a batch run lowered (``changed``: from
    ``batch_rating_changes``), with the deductions behind each."""
    moved = changed.filter(
        pc.fill_null(pc.not_equal(changed["grade"], changed["previous_grade"]), False)
    )
    if moved.num_rows == 0:
        return 0
    changes = [
        subject_notices.RatingChange(
            r["rulebook_id"],
            r["subject_id"],
            r["score"],
            r["grade"],
            r["previous_score"],
            r["previous_grade"],
        )
        for r in moved.to_pylist()
    ]
    lines = contributions.filter(pc.is_in(contributions["subject_id"], moved["subject_id"]))
    by_subject: dict[int, list[dict[str, Any]]] = {}
    for line in lines.to_pylist():
        by_subject.setdefault(line["subject_id"], []).append(line)
    return subject_notices.grade_falls(conn, rulebooks, changes, by_subject, now)


# --- one subject -------------------------------------------------------------------------------


def subject_id_for(
    store: Store, hasher: IdentifierHasher, reference: str, today: date
) -> int | None:
    """The subject a ``SCHEME:IDENTIFIER`` names, or None when candor knows no such subject.

    Raises:
        InvalidInput: the reference is not ``SCHEME:IDENTIFIER`` or the identifier is invalid
            (the message names the rule, never the identifier).
    """
    scheme, sep, raw = reference.partition(":")
    if not sep or not raw:
        raise InvalidInput("expected SCHEME:IDENTIFIER, e.g. cn_resident_id:…")
    try:
        parsed = parse_identifier(scheme, raw, today=today)
    except InvalidIdentifier as e:
        raise InvalidInput(f"identifier: {e}") from None
    hashed = hasher.hashed([(parsed.scheme.value, parsed.value)])
    with store.read() as conn:
        found = subject_rows.find(conn, hashed)
        if not found:  # unknown, or re-keyed by a rotation under a key this secret lacks
            identifier_keys.check_not_behind(conn, hasher.key_id)
    hit = found.get(hashed.digests[0])
    return hit.subject_id if hit else None


def rate_subject(
    store: Store, registry: Registry, subject_id: int, *, as_of: date
) -> tuple[list[ActiveRulebook], Rows]:
    """Rate one subject inside the store as of any date, under the versions governing it."""
    rulebooks = governing(store, as_of)
    if not rulebooks:
        return [], Rows([], [], [], [])
    plan = plan_for(rulebooks, registry, one_subject=True)
    with store.read() as conn:
        return rulebooks, run_in_store(conn, plan, subject_id, as_of)


# Up to this many subjects, ``ratings_of`` rates each in the store; beyond, everyone on DuckDB
# once (a bulk check of a city's residents) and keeps theirs.
_ONE_BY_ONE = 500


def ratings_of(
    store: Store, registry: Registry, subject_ids: list[int], *, as_of: date
) -> dict[int, list[dict[str, Any]]]:
    """The ratings of ``subject_ids`` as of any date (one row per scoring rulebook: consented,
    score, grade), computed from the records — nothing is stored."""
    if len(subject_ids) <= _ONE_BY_ONE:
        return {s: rate_subject(store, registry, s, as_of=as_of)[1].ratings for s in subject_ids}
    rulebooks = governing(store, as_of)
    if not rulebooks:
        return {}
    plan = plan_for(rulebooks, registry, one_subject=False)
    types = sorted(set().union(*(a.rulebook.record_types() for a in rulebooks)))
    with store.read() as conn:
        through = stored.watermark(conn)
    records = export.records(store, types, as_of, through)
    ratings = run_batch(plan, records, export.subjects(store), as_of)["ratings"]
    wanted = ratings.filter(pc.is_in(ratings["subject_id"], pa.array(subject_ids, pa.int64())))
    out: dict[int, list[dict[str, Any]]] = {}
    for row in wanted.to_pylist():
        out.setdefault(row["subject_id"], []).append(row)
    return out


def rerate_subject(store: Store, registry: Registry, subject_id: int, *, today: date) -> Rows:
    """Re-rate one subject as of today and store its ratings and listings (its records changed)."""
    rulebooks = governing(store, today)
    if not rulebooks:
        return Rows([], [], [], [])
    plan = plan_for(rulebooks, registry, one_subject=True)
    now = datetime.now(UTC)
    with store.write() as conn:
        # First, so that a concurrent re-rating of the same subject has committed before this
        # one reads anything (see ``lock_subject``).
        stored.lock_subject(conn, subject_id)
        through = stored.watermark(conn)
        rows = run_in_store(conn, plan, subject_id, today)
        previous = stored.stored_ratings(conn, subject_id)
        stored.save_ratings(conn, _rating_rows(rows.ratings, today), previous, now)
        ids = [a.id for a in rulebooks]
        stored.save_listings(
            conn, rows.listings, stored.stored_listings(conn, ids, subject_id), today, now
        )
        subject_notices.listing_phases(conn, rulebooks, today, now, subject_id=subject_id)
        changes = [
            subject_notices.RatingChange(r["rulebook_id"], subject_id, r["score"], r["grade"], *old)
            for r in rows.ratings
            if (old := previous.get((r["rulebook_id"], subject_id))) is not None
        ]
        subject_notices.grade_falls(conn, rulebooks, changes, {subject_id: rows.contributions}, now)
        stored.mark_rerated(conn, subject_id, today, through, now)
    return rows

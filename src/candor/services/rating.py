"""Rating: every subject in a batch on DuckDB, one subject inside the store, and explanations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from candor.domain.identifiers import InvalidIdentifier, parse_identifier
from candor.domain.listings import in_force
from candor.domain.pseudonyms import IdentifierHasher
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook
from candor.engine.execute import Rows, run_batch, run_in_store
from candor.errors import InvalidInput
from candor.services.rulebooks import governing, plan_for
from candor.store import export
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
    stages: dict[str, float] = field(default_factory=dict)

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
            "stored": self.stored,
        }


def rate_all(
    store: Store,
    registry: Registry,
    *,
    as_of: date,
    today: date,
    on_progress: Progress = _no_progress,
) -> RateSummary:
    """Rate every subject as of ``as_of`` on DuckDB. Ratings and listings are stored when
    ``as_of`` is today; a rating of another date is computed and reported only."""
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
    records = export.records(store, types, as_of, through)
    subjects = export.subjects(store)
    stages["read"] = time.perf_counter() - mark
    on_progress("rating")
    mark = time.perf_counter()
    out = run_batch(plan, records, subjects, as_of)
    stages["rate"] = time.perf_counter() - mark
    keys = {a.id: a.rulebook.key for a in rulebooks}
    ratings = out["ratings"].to_pylist()
    listings = out["listings"].to_pylist()
    write = as_of == today
    if write:
        on_progress("storing")
        mark = time.perf_counter()
        _store_batch(store, rulebooks, ratings, listings, as_of, through)
        stages["store"] = time.perf_counter() - mark
    return RateSummary(
        subjects=subjects.num_rows,
        seconds=time.perf_counter() - started,
        as_of=as_of,
        grades=_grades(ratings, keys),
        not_scored=_not_scored(ratings, keys),
        listings=_listing_counts(listings, as_of, rulebooks),
        stored=write,
        stages=stages,
    )


def _grades(ratings: list[dict[str, Any]], keys: dict[int, str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in ratings:
        if row["consented"] and row["grade"] is not None:
            by_grade = out.setdefault(keys[row["rulebook_id"]], {})
            by_grade[row["grade"]] = by_grade.get(row["grade"], 0) + 1
    return out


def _not_scored(ratings: list[dict[str, Any]], keys: dict[int, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in ratings:
        if not row["consented"]:
            out[keys[row["rulebook_id"]]] = out.get(keys[row["rulebook_id"]], 0) + 1
    return out


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
    ratings: list[dict[str, Any]],
    listings: list[dict[str, Any]],
    as_of: date,
    through: int,
) -> None:
    now = datetime.now(UTC)
    ids = [a.id for a in rulebooks]
    with store.write() as conn:
        run_id = stored.start_run(conn, as_of, through, now)
        previous = stored.all_ratings(conn, ids)
        rows = _rating_rows(ratings, as_of)
        stored.save_ratings(conn, rows, previous, now)
        stored.save_listings(conn, listings, stored.stored_listings(conn, ids), as_of, now)
        stored.finish_run(conn, run_id, len({r["subject_id"] for r in rows}), now)


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
    digest = hasher.digest(parsed.scheme.value, parsed.value)
    with store.read() as conn:
        found = subject_rows.find(conn, hasher.key_id, [digest])
    hit = found.get(digest)
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


def rerate_subject(store: Store, registry: Registry, subject_id: int, *, today: date) -> Rows:
    """Re-rate one subject as of today and store its ratings and listings (its records changed)."""
    rulebooks = governing(store, today)
    if not rulebooks:
        return Rows([], [], [], [])
    plan = plan_for(rulebooks, registry, one_subject=True)
    now = datetime.now(UTC)
    with store.write() as conn:
        through = stored.watermark(conn)
        rows = run_in_store(conn, plan, subject_id, today)
        previous = stored.stored_ratings(conn, subject_id)
        stored.save_ratings(conn, _rating_rows(rows.ratings, today), previous, now)
        ids = [a.id for a in rulebooks]
        stored.save_listings(
            conn, rows.listings, stored.stored_listings(conn, ids, subject_id), today, now
        )
        stored.mark_rerated(conn, subject_id, today, through, now)
    return rows

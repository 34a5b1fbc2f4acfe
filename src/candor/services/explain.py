"""Explanations: why a subject has its score, grade and listings as of a date.

Every figure names where it came from — the base, each record that counts with its rule, legal
basis, points and until when it counts; an overriding grade names its record; a listing names its
record, term and the ways off the list. Computed in the store by the same plan that rates, under
the rulebook versions that governed the date, so an explanation of a past date reproduces the
rating of that date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from candor.domain.listings import effective_end, in_force
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook, ListSpec, Rulebook
from candor.engine.execute import Rows
from candor.errors import NotFound
from candor.services.rating import rate_subject
from candor.store import ratings as stored
from candor.store import subjects as subject_rows
from candor.store.database import Store
from candor.store.records import described
from candor.store.tables import subjects


@dataclass(frozen=True)
class Line:
    """One contribution to a score: a record counted by a rule (record None: the rule's cap)."""

    rule: str
    description: str
    legal_basis: str | None
    record: dict[str, Any] | None
    points: float
    until: date | None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "description": self.description,
            "legal_basis": self.legal_basis,
            "record": _record_json(self.record),
            "points": self.points,
            "until": _day(self.until),
        }


@dataclass(frozen=True)
class Forced:
    """An overriding grade and the record that forces it."""

    override: str
    grade: str
    legal_basis: str | None
    record: dict[str, Any] | None
    until: date | None

    def to_json(self) -> dict[str, Any]:
        return {
            "override": self.override,
            "grade": self.grade,
            "legal_basis": self.legal_basis,
            "record": _record_json(self.record),
            "until": _day(self.until),
        }


@dataclass(frozen=True)
class ListingExplained:
    list_name: str
    title: str
    ref: str | None  # the stored listing's public reference, when it is stored
    record: dict[str, Any] | None
    legal_basis: str | None
    starts_on: date
    ends_on: date | None  # the term's end, extension included
    removed_on: date | None
    removed_by: dict[str, Any] | None
    in_force: bool
    until: date | None  # the first day it no longer applies
    term: str | None
    extension: str | None
    removal: list[str]  # record types that take the subject off the list
    measures: list[str]
    how_to_object: str

    def to_json(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "title": self.title,
            "listing": self.ref,
            "record": _record_json(self.record),
            "legal_basis": self.legal_basis,
            "starts_on": _day(self.starts_on),
            "ends_on": _day(self.ends_on),
            "removed_on": _day(self.removed_on),
            "removed_by": _record_json(self.removed_by),
            "in_force": self.in_force,
            "until": _day(self.until),
            "term": self.term,
            "extension": self.extension,
            "removal": self.removal,
            "measures": self.measures,
            "how_to_object": self.how_to_object,
        }


@dataclass(frozen=True)
class RulebookExplained:
    rulebook: str
    version: str
    title: str
    authority: str
    effective_from: date
    scored: bool  # the rulebook gives a score at all
    consented: bool | None  # None: the rulebook needs no consent
    base: int | None
    score: float | None
    grade: str | None
    grades_verified: bool | None
    grades_note: str
    lines: list[Line]
    overrides: list[Forced]
    listings: list[ListingExplained]

    def to_json(self) -> dict[str, Any]:
        return {
            "rulebook": self.rulebook,
            "version": self.version,
            "title": self.title,
            "authority": self.authority,
            "effective_from": _day(self.effective_from),
            "scored": self.scored,
            "consented": self.consented,
            "base": self.base,
            "score": self.score,
            "grade": self.grade,
            "grades_verified": self.grades_verified,
            "grades_note": self.grades_note,
            "contributions": [line.to_json() for line in self.lines],
            "overrides": [o.to_json() for o in self.overrides],
            "listings": [entry.to_json() for entry in self.listings],
        }


@dataclass(frozen=True)
class Explanation:
    subject: str  # the subject's public reference, never an identifier
    kind: str
    as_of: date
    rulebooks: list[RulebookExplained]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind,
            "as_of": self.as_of.isoformat(),
            "rulebooks": [r.to_json() for r in self.rulebooks],
        }

    def summary(self) -> dict[str, Any]:
        """Scores, grades and the listings in force, without the lines behind them."""
        return {
            "subject": self.subject,
            "as_of": self.as_of.isoformat(),
            "ratings": [
                {
                    "rulebook": r.rulebook,
                    "version": r.version,
                    "consented": r.consented,
                    "score": r.score,
                    "grade": r.grade,
                }
                for r in self.rulebooks
                if r.scored
            ],
            "listings": [
                {
                    "list": e.list_name,
                    "listing": e.ref,
                    "starts_on": _day(e.starts_on),
                    "until": _day(e.until),
                    "measures": e.measures,
                }
                for r in self.rulebooks
                for e in r.listings
                if e.in_force
            ],
        }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _record_json(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in record.items()}


def explain(store: Store, registry: Registry, subject_id: int, *, as_of: date) -> Explanation:
    """Explain one subject's ratings and listings as of ``as_of``.

    Raises:
        NotFound: no subject has this id.
    """
    with store.read() as conn:
        subject = conn.execute(
            select(subjects.c.ref, subjects.c.kind).where(subjects.c.id == subject_id)
        ).first()
    if subject is None:
        raise NotFound("no such subject")
    rulebooks, rows = rate_subject(store, registry, subject_id, as_of=as_of)
    ids = [r["record_id"] for r in (*rows.contributions, *rows.overrides, *rows.listings)]
    ids += [r["removed_by"] for r in rows.listings]
    with store.read() as conn:
        records = described(conn, [i for i in ids if i is not None])
        saved = stored.stored_listings(conn, [a.id for a in rulebooks], subject_id)
    refs = {key: row.get("ref") for key, row in saved.items()}
    return Explanation(
        subject=subject.ref,
        kind=subject.kind,
        as_of=as_of,
        rulebooks=[
            _one_rulebook(active, rows, records, refs, as_of)
            for active in rulebooks
            if subject.kind in active.rulebook.subject_kinds or _touches(active, rows)
        ],
    )


def _touches(active: ActiveRulebook, rows: Rows) -> bool:
    return any(
        r["rulebook_id"] == active.id for r in (*rows.ratings, *rows.contributions, *rows.listings)
    )


def _one_rulebook(
    active: ActiveRulebook,
    rows: Rows,
    records: dict[int, dict[str, Any]],
    refs: dict[tuple[int, str, int], Any],
    as_of: date,
) -> RulebookExplained:
    book = active.rulebook
    rating = next((r for r in rows.ratings if r["rulebook_id"] == active.id), None)
    consented = bool(rating["consented"]) if rating and book.consent else None
    counted = consented is not False  # without consent, no score and nothing counted
    rules = {r.id: r for r in book.rules}
    overrides = {o.id: o for o in book.overrides}
    lines = [
        Line(
            rule=row["rule_id"],
            description=rules[row["rule_id"]].description,
            legal_basis=rules[row["rule_id"]].legal_basis or book.legal_basis,
            record=records.get(row["record_id"]) if row["record_id"] is not None else None,
            points=row["points"],
            until=row["counts_until"],
        )
        for row in rows.contributions
        if row["rulebook_id"] == active.id and counted
    ]
    forced = [
        Forced(
            override=row["override_id"],
            grade=row["grade"],
            legal_basis=overrides[row["override_id"]].legal_basis or book.legal_basis,
            record=records.get(row["record_id"]),
            until=row["counts_until"],
        )
        for row in rows.overrides
        if row["rulebook_id"] == active.id and counted
    ]
    listings = [
        _listing(
            book, row, records, refs.get((active.id, row["list_name"], row["record_id"])), as_of
        )
        for row in rows.listings
        if row["rulebook_id"] == active.id
    ]
    return RulebookExplained(
        rulebook=book.rulebook,
        version=book.version,
        title=book.title,
        authority=book.authority,
        effective_from=active.effective_from,
        scored=book.score is not None,
        consented=consented,
        base=book.score.base if book.score else None,
        score=rating["score"] if rating and counted else None,
        grade=rating["grade"] if rating and counted else None,
        grades_verified=book.grades.verified if book.grades else None,
        grades_note=book.grades.note if book.grades else "",
        lines=lines,
        overrides=forced,
        listings=listings,
    )


def _listing_key(row: dict[str, Any]) -> tuple[int, str, int]:
    return (row["rulebook_id"], row["list_name"], row["record_id"])


def _listing(
    book: Rulebook,
    row: dict[str, Any],
    records: dict[int, dict[str, Any]],
    ref: str | None,
    as_of: date,
) -> ListingExplained:
    spec: ListSpec = book.lists[row["list_name"]]
    criterion = spec.entry[row["criterion"]] if row["criterion"] is not None else None
    term = (criterion.term if criterion else None) or spec.term
    extension = None
    if spec.extension is not None:
        ext = spec.extension
        most = ext.max_years or ext.years
        extension = (
            f"{ext.years} year(s)" if most == ext.years else f"{ext.years} to {most} years"
        ) + f" when {ext.condition}"
    return ListingExplained(
        list_name=row["list_name"],
        title=spec.title,
        ref=ref,
        record=records.get(row["record_id"]),
        legal_basis=(criterion.legal_basis if criterion else None)
        or spec.legal_basis
        or book.legal_basis,
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        removed_on=row["removed_on"],
        removed_by=records.get(row["removed_by"]) if row["removed_by"] is not None else None,
        in_force=in_force(row, as_of),
        until=effective_end(row),
        term=str(term) if term else None,
        extension=extension,
        removal=[c.record_type for c in spec.removal],
        measures=sorted(
            name for name, m in book.measures.items() if row["list_name"] in m.imposed_by
        ),
        how_to_object=spec.how_to_object,
    )


def subject_by_ref(store: Store, ref: str) -> int:
    """The subject a public reference (``S…``) names.

    Raises:
        NotFound: no subject has this reference.
    """
    with store.read() as conn:
        found = subject_rows.by_ref(conn, ref)
    if found is None:
        raise NotFound("no subject has this reference")
    return found


def subject_ref(store: Store, subject_id: int) -> str:
    with store.read() as conn:
        ref = conn.execute(select(subjects.c.ref).where(subjects.c.id == subject_id)).scalar()
    if ref is None:
        raise NotFound("no such subject")
    return str(ref)

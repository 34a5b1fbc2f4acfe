"""The notices due process owes a subject, written in the transaction that makes the change.

- a record about them was accepted (one notice per subject per ingested batch);
- a listing was decided and will take effect after the list's advance warning (``announced``),
  took effect (``in_force``), or ended — its term ran, a removal record ended it, or its entry
  record was overturned (``ended``);
- their grade fell a band.

(Objection and repair decisions write their own notices, in ``candor.services.objections`` and
``candor.services.repair``.)

Each says what happened, the records and rules behind it with their legal basis, and how and by
when to object. A listing's notice names the ledger entry that records the change: the subject's
file carries its inclusion proof in the signed tree head.

Listing phases are found by comparison, not by event: every rating compares each listing's phase
on its date with the phase its subject was last told (``listings.phase``). So a warning period
that runs, or a term that ends, with no new record, is told by the next rating — daily runs tell
it on the day — and a rating that is interrupted tells it in the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)

from candor.domain.ledger import LISTING_ANNOUNCED, LISTING_ENDED, LISTING_STARTED
from candor.domain.listings import Phase
from candor.domain.rulebook import ActiveRulebook, ListSpec
from candor.store import ledger as ledger_rows
from candor.store.notices import NewNotice, insert_notices
from candor.store.sql import ids_among
from candor.store.tables import ledger_entries, listings, records, sources, subjects

CHUNK = 10_000  # bound parameters per statement

HOW_TO_OBJECT = (
    "To object, sign in to candor and file an objection (POST /v1/subjects/{ref}/objections), "
    "or ask an officer to file it for you; name the record or listing and say why it is wrong, "
    "with any proof. A reviewer decides it with reasons, and you may appeal to another reviewer."
)
PHASE_KINDS = {
    Phase.ANNOUNCED: LISTING_ANNOUNCED,
    Phase.IN_FORCE: LISTING_STARTED,
    Phase.ENDED: LISTING_ENDED,
}


def _chunks(values: Sequence[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), CHUNK):
        yield list(values[i : i + CHUNK])


def _phase_sql(as_of: date) -> Any:
    """``domain.listings.phase`` in SQL, so a rating finds the changed phases in one scan."""
    ended = or_(
        listings.c.withdrawn_on.is_not(None),
        and_(listings.c.ends_on.is_not(None), listings.c.ends_on <= as_of),
        and_(listings.c.removed_on.is_not(None), listings.c.removed_on <= as_of),
    )
    return case(
        (ended, Phase.ENDED.value),
        (listings.c.starts_on > as_of, Phase.ANNOUNCED.value),
        else_=Phase.IN_FORCE.value,
    )


def _entry_records(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for part in _chunks(sorted(set(ids))):
        rows = conn.execute(
            select(
                records.c.id,
                records.c.record_type,
                records.c.source_record_id,
                records.c.decided_on,
                records.c.legal_basis,
                sources.c.name.label("source"),
            )
            .join(sources, sources.c.id == records.c.source_id)
            .where(records.c.id.in_(part))
        )
        out.update({r.id: dict(r._mapping) for r in rows})
    return out


def _subject_refs(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in _chunks(sorted(set(ids))):
        rows = conn.execute(select(subjects.c.id, subjects.c.ref).where(subjects.c.id.in_(part)))
        out.update({r.id: r.ref for r in rows})
    return out


def _latest_leaves(conn: Connection, listing_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in _chunks(listing_ids):
        rows = conn.execute(
            select(ledger_entries.c.object_id, func.max(ledger_entries.c.leaf_index))
            .where(
                ledger_entries.c.object_table == "listings",
                ledger_entries.c.object_id.in_(part),
            )
            .group_by(ledger_entries.c.object_id)
        )
        out.update({int(r[0]): int(r[1]) for r in rows})
    return out


def _record_line(record: Mapping[str, Any]) -> str:
    return (
        f"{record['record_type']} {record['source_record_id']} from {record['source']}, decided "
        f"{record['decided_on']} (legal basis: {record['legal_basis']})"
    )


@dataclass(frozen=True)
class _Listing:
    row: Mapping[str, Any]
    phase: Phase
    rulebook: ActiveRulebook

    @property
    def spec(self) -> ListSpec:
        return self.rulebook.rulebook.lists[self.row["list_name"]]

    def legal_basis(self) -> str:
        criterion = self.spec.entry[self.row["criterion"]]
        return (
            criterion.legal_basis
            or self.spec.legal_basis
            or self.rulebook.rulebook.legal_basis
            or "none cited"
        )

    def measures(self) -> list[str]:
        rulebook = self.rulebook.rulebook
        return [
            f"{name} ({m.title})"
            for name, m in rulebook.measures.items()
            if self.row["list_name"] in m.imposed_by
        ]


def _listing_notice(
    item: _Listing, record: Mapping[str, Any], ref: str, leaf: int | None, as_of: date
) -> NewNotice:
    row, spec = item.row, item.spec
    title = spec.title
    end = min((d for d in (row["ends_on"], row["removed_on"]) if d is not None), default=None)
    measures = item.measures()
    brings = f" It brings: {'; '.join(measures)}." if measures else ""
    how = spec.how_to_object or HOW_TO_OBJECT.format(ref=ref)
    because = (
        f"Because of: {_record_line(record)}. Rule: {item.rulebook.rulebook.key}, list "
        f"{row['list_name']}, entry criterion {row['criterion']}; legal basis: "
        f"{item.legal_basis()}."
    )
    if item.phase is Phase.ANNOUNCED:
        kind = "listing.warning"
        heading = f"You will be listed on {title} from {row['starts_on']}"
        what = (
            f"You will be listed on {title} from {row['starts_on']}"
            f"{f' until {end}' if end else ''}, unless the record behind it is corrected or "
            f"settled before then.{brings}"
        )
        by_when = (
            f"Object before {row['starts_on']}: the listing does not take effect until then, and "
            "while an objection is open every check about you says it is disputed."
        )
    elif item.phase is Phase.IN_FORCE:
        kind = "listing.started"
        heading = f"You are listed on {title}"
        what = (
            f"You are listed on {title} from {row['starts_on']}"
            f"{f' until {end}' if end else ' with no fixed end'}.{brings}"
        )
        minimum = spec.repair_minimum(row["criterion"])
        by_when = "You may object at any time while the listing is in force."
        if minimum is not None:
            by_when += (
                f" After {minimum} in force you may also apply for early removal with "
                "proof that you have performed (credit repair)."
            )
    else:
        kind = "listing.ended"
        heading = f"Your listing on {title} ended"
        if row["withdrawn_on"] is not None:
            what = (
                f"Your listing on {title} was withdrawn on {row['withdrawn_on']}: the record "
                "behind it was overturned or corrected. It no longer applies, and counts as if "
                "it never had."
            )
        elif row["removed_on"] is not None and row["removed_on"] <= as_of:
            what = (
                f"Your listing on {title} ended on {row['removed_on']}: a later record settled "
                "the record behind it."
            )
        else:
            what = f"Your listing on {title} ended on {row['ends_on']}: its term ran out."
        by_when = (
            "You may still object to the records behind it, e.g. to have a wrong record "
            "corrected everywhere."
        )
    body = "\n\n".join(
        [
            what,
            because,
            f"How to object: {how}",
            by_when,
            f"Ledger: entry {leaf} records this listing; your file proves it is in the "
            "signed ledger."
            if leaf is not None
            else "",
        ]
    ).strip()
    data = {
        "subject": ref,
        "listing": row["ref"],
        "rulebook": item.rulebook.rulebook.key,
        "list": row["list_name"],
        "phase": item.phase.value,
        "starts_on": str(row["starts_on"]),
        "ends_on": str(end) if end else None,
        "withdrawn_on": str(row["withdrawn_on"]) if row["withdrawn_on"] else None,
        "record": record["source_record_id"],
        "record_type": record["record_type"],
        "legal_basis": item.legal_basis(),
        "measures": [m.split(" (")[0] for m in measures],
        "object_by": str(row["starts_on"]) if item.phase is Phase.ANNOUNCED else None,
        "ledger_leaf": leaf,
    }
    return NewNotice(kind=kind, title=heading[:200], body=body, data=data)


def listing_phases(
    conn: Connection,
    rulebooks: Sequence[ActiveRulebook],
    as_of: date,
    now: datetime,
    *,
    subject_id: int | None = None,
) -> int:
    """Tell subjects of every listing (of ``rulebooks``; one subject's with ``subject_id``) whose
    phase on ``as_of`` differs from what they were last told, and record the phase reached in the
    ledger where the listing's row did not change in this transaction (a warning ran out, a term
    ended). Returns the number of notices written."""
    by_id = {a.id: a for a in rulebooks if a.rulebook.lists}
    if not by_id:
        return 0
    current = _phase_sql(as_of)
    query = select(
        listings.c.id,
        listings.c.ref,
        listings.c.rulebook_id,
        listings.c.list_name,
        listings.c.subject_id,
        listings.c.record_id,
        listings.c.criterion,
        listings.c.starts_on,
        listings.c.ends_on,
        listings.c.removed_on,
        listings.c.withdrawn_on,
        listings.c.updated_at,
        current.label("now_phase"),
    ).where(
        listings.c.rulebook_id.in_(list(by_id)),
        or_(listings.c.phase.is_(None), listings.c.phase != current),
    )
    if subject_id is not None:
        query = query.where(listings.c.subject_id == subject_id)
    moved = [dict(r._mapping) for r in conn.execute(query.order_by(listings.c.id))]
    if not moved:
        return 0
    # A listing whose row this transaction wrote has its ledger entry already (see
    # ``store.ratings.record_listing_changes``); one that only moved on in time gets one here.
    quiet = {r["id"]: PHASE_KINDS[Phase(r["now_phase"])] for r in moved if r["updated_at"] != now}
    for part in _chunks(sorted(quiet)):
        ledger_rows.append_objects(
            conn, "listings", listings.c.id.in_(part), lambda row: quiet[int(row["id"])], now
        )
    entry_records = _entry_records(conn, [r["record_id"] for r in moved])
    refs = _subject_refs(conn, (r["subject_id"] for r in moved))
    leaves = _latest_leaves(conn, [r["id"] for r in moved])
    notices = [
        replace(
            _listing_notice(
                _Listing(r, Phase(r["now_phase"]), by_id[r["rulebook_id"]]),
                entry_records[r["record_id"]],
                refs[r["subject_id"]],
                leaves.get(r["id"]),
                as_of,
            ),
            subject_id=r["subject_id"],
        )
        for r in moved
    ]
    insert_notices(conn, notices, now)
    conn.execute(
        update(listings)
        .where(listings.c.id == bindparam("listing_id"))
        .values(phase=bindparam("new_phase")),
        [{"listing_id": r["id"], "new_phase": r["now_phase"]} for r in moved],
    )
    return len(notices)


# --- grades ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingChange:
    rulebook_id: int
    subject_id: int
    score: int | None
    grade: str | None
    previous_score: int | None
    previous_grade: str | None


def fell_a_band(rulebook: ActiveRulebook, change: RatingChange) -> bool:
    grades = rulebook.rulebook.grades
    if grades is None or change.grade is None or change.previous_grade is None:
        return False
    names = {b.grade for b in grades.bands}
    if change.grade not in names or change.previous_grade not in names:
        return False
    return grades.rank(change.grade) > grades.rank(change.previous_grade)


REASONS_TOLD = 5


def grade_falls(
    conn: Connection,
    rulebooks: Sequence[ActiveRulebook],
    changes: Iterable[RatingChange],
    contributions: Mapping[int, Sequence[Mapping[str, Any]]],
    now: datetime,
) -> int:
    """Tell each subject whose grade fell a band (or more) under a rulebook, with the
    deductions behind their score (``contributions``: the plan's lines, by subject). Returns the
    number of notices written."""
    by_id = {a.id: a for a in rulebooks}
    fallen = [c for c in changes if c.rulebook_id in by_id and fell_a_band(by_id[c.rulebook_id], c)]
    if not fallen:
        return 0
    lines = {
        c.subject_id: sorted(
            (
                x
                for x in contributions.get(c.subject_id, ())
                if x["rulebook_id"] == c.rulebook_id and (x["points"] or 0) < 0
            ),
            key=lambda x: (x["points"], str(x["rule_id"])),
        )[:REASONS_TOLD]
        for c in fallen
    }
    told_records = [x["record_id"] for xs in lines.values() for x in xs if x["record_id"]]
    entry_records = _entry_records(conn, told_records)
    refs = _subject_refs(conn, (c.subject_id for c in fallen))
    notices = []
    for c in fallen:
        active = by_id[c.rulebook_id]
        rules = {r.id: r for r in active.rulebook.rules}
        reasons = []
        for x in lines[c.subject_id]:
            rule = rules.get(x["rule_id"])
            basis = (rule.legal_basis if rule else None) or active.rulebook.legal_basis
            record = entry_records.get(x["record_id"]) if x["record_id"] else None
            reasons.append(
                {
                    "rule": x["rule_id"],
                    "points": x["points"],
                    "legal_basis": basis,
                    "record": record["source_record_id"] if record else None,
                    "line": f"{x['points']} points by rule {x['rule_id']}"
                    f"{f' for {_record_line(record)}' if record else ''}"
                    f"{f'; rule legal basis: {basis}' if basis else ''}",
                }
            )
        ref = refs[c.subject_id]
        why = "\n".join(f"- {r['line']}" for r in reasons) or "- (no deductions: see your file)"
        notices.append(
            NewNotice(
                subject_id=c.subject_id,
                kind="grade.fell",
                title=f"Your grade under {active.rulebook.title[:120]} fell to {c.grade}",
                body=(
                    f"Your grade under {active.rulebook.key} fell from {c.previous_grade} to "
                    f"{c.grade} (score {c.previous_score} → {c.score}).\n\nThe largest "
                    f"deductions behind your score:\n{why}\n\nHow to object: "
                    f"{HOW_TO_OBJECT.format(ref=ref)} You may object to any record behind your "
                    "score, or to the rating itself, at any time; `candor explain` and your file "
                    "show every line of it."
                ),
                data={
                    "subject": ref,
                    "rulebook": active.rulebook.key,
                    "grade": c.grade,
                    "previous_grade": c.previous_grade,
                    "score": c.score,
                    "previous_score": c.previous_score,
                    "reasons": reasons,
                },
            )
        )
    insert_notices(conn, notices, now)
    return len(notices)


# --- records -----------------------------------------------------------------------------------

RECORDS_LISTED = 20  # lines per notice; a larger batch about one subject says how many more


def records_accepted(conn: Connection, accepted: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Tell each subject about the records ``accepted`` (one ingested batch, in their stored
    form as ``store.ledger.stored_forms`` reads them, which the ledger's entries are made of
    too): one notice per subject. Returns the number of notices written.

    Ingestion calls this for every batch, so each notice is built with as little per-record
    work as the text allows."""
    if not accepted:
        return 0
    subject_ids = sorted({r["subject_id"] for r in accepted})
    refs = dict(
        conn.execute(
            select(subjects.c.id, subjects.c.ref).where(ids_among(conn, subjects.c.id, subject_ids))
        ).all()
    )
    names = dict(
        conn.execute(
            select(sources.c.id, sources.c.name).where(
                sources.c.id.in_({r["source_id"] for r in accepted})
            )
        ).all()
    )
    rows = sorted(
        (
            (
                r["subject_id"],
                refs[r["subject_id"]],
                names[r["source_id"]],
                r["record_type"],
                r["source_record_id"],
                r["decided_on"],
                r["legal_basis"],
                r["status"],
                r["refers_to"],
            )
            for r in accepted
        ),
        key=itemgetter(0),  # stable: each subject's records stay in id order
    )
    notices = []
    for subject_id, group in groupby(rows, key=itemgetter(0)):
        theirs = list(group)
        _, ref, source = theirs[0][:3]
        shown = theirs[:RECORDS_LISTED]
        n, more = len(theirs), len(theirs) - len(shown)
        lines = "\n".join(
            f"- {t} {srid} from {source}, decided {day} (legal basis: {basis}), status {status}"
            + (f", a later version of {refers}" if refers else "")
            for _, _, _, t, srid, day, basis, status, refers in shown
        )
        plural = "s" if n != 1 else ""
        notices.append(
            NewNotice(
                subject_id=subject_id,
                kind="record.accepted",
                title=f"{n} record{plural} about you accepted from {source}"[:200],
                body=(
                    f"candor accepted {n} record{plural} about you:\n{lines}"
                    + (f"\n- … and {more} more (your file lists them all)" if more else "")
                    + "\n\nThey may change your rating or put you on a list; you are told "
                    "separately if they do, before any listing takes effect where the list "
                    f"warns first.\n\nHow to object: {HOW_TO_OBJECT.format(ref=ref)} You may "
                    "object to a record at any time."
                ),
                data={
                    "subject": ref,
                    "source": source,
                    "count": n,
                    "records": [
                        {
                            "record": srid,
                            "record_type": t,
                            "decided_on": day,
                            "legal_basis": basis,
                            "status": status,
                        }
                        for _, _, _, t, srid, day, basis, status, _ in shown
                    ],
                },
            )
        )
    insert_notices(conn, notices, now)
    return len(notices)

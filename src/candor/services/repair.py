"""Credit repair: a subject's application for early removal from a list, and what approval does.

After the minimum publicity period (the list's ``repair.minimum`` or its entry's ``repair_after``,
from the listing's start) the subject, or an officer acting for it, applies with proof of
performance: a statement, attachments, or both. A reviewer takes the application and approves
or refuses it with reasons, by the list's ``review_within`` (the deployment's
``CANDOR_OBJECTION_REVIEW_DAYS`` otherwise). Every move is a ledger entry; every decision a
notice to the subject saying why and what happens next.

Approval adds a record of the list's ``repair.record_type`` that refers to the listing's entry
record, decided on the day of approval. The type is one of the list's removal triggers (the
rulebook validator insists), so the rating engine ends the listing on that day like any other
removal — on record, and reproducibly by every later rating. The subject is re-rated at once.
Relying parties are not told of a changed answer: every answer given before the approval day
was right on its day, and the listing ends only from then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from candor.domain import repair as rules
from candor.domain.access import Principal, Role
from candor.domain.ledger import RECORD_CORRECTION
from candor.domain.listings import effective_end, in_force
from candor.domain.registry import Registry
from candor.domain.repair import Decision, State
from candor.domain.rulebook import ListSpec, parse_rulebook
from candor.errors import Conflict, Forbidden, NotFound
from candor.services.notices import create_notice
from candor.services.objections import Attachment, check_attachments
from candor.services.plain import plain
from candor.services.rating import rerate_subject
from candor.settings import Settings
from candor.store import Store
from candor.store import ingestions as runs
from candor.store import ledger as ledger_rows
from candor.store import repair as stored
from candor.store.ingestions import BatchCounts
from candor.store.tables import records, repairs

__all__ = ["Attachment", "apply", "decide", "overdue", "repairs_of", "take"]


def _ledger(conn: Connection, repair_id: int, state: str, now: datetime) -> None:
    ledger_rows.append_objects(
        conn, "repairs", repairs.c.id == repair_id, lambda _: f"repair.{state}", now
    )


def _notify(conn: Connection, row: dict[str, Any], title: str, body: str, now: datetime) -> None:
    create_notice(
        conn,
        subject_id=row["subject_id"],
        kind=f"repair.{row['state']}",
        title=title[:200],
        body=body,
        data={"repair": row["ref"], "state": row["state"], "listing": row["listing"]},
        now=now,
    )


def _get(conn: Connection, ref: str) -> dict[str, Any]:
    found = stored.by_ref(conn, ref)
    if found is None:
        raise NotFound(f"no repair application {ref}")
    return found


def _spec(listing: dict[str, Any]) -> ListSpec:
    """The list as the rulebook version that decided the listing defines it."""
    book = parse_rulebook(
        listing["rulebook_content"], origin=f"stored rulebook {listing['rulebook_id']}"
    )
    return book.lists[listing["list_name"]]


def _standing(listing: dict[str, Any], today: date) -> str | None:
    """Why a listing is not in force today, or None when it is."""
    if listing["withdrawn_on"] is not None:
        return f"was withdrawn on {listing['withdrawn_on']}"
    if listing["starts_on"] > today:
        return f"starts only on {listing['starts_on']}"
    if not in_force(listing, today):
        return f"ended on {effective_end(listing)}"
    return None


def apply(
    store: Store,
    settings: Settings,
    principal: Principal,
    subject_id: int,
    *,
    listing: str,
    statement: str | None,
    attachments: Sequence[Attachment] = (),
    today: date,
) -> dict[str, Any]:
    """Apply for early removal of one of the subject's listings, with proof of performance.

    Raises:
        Forbidden: the caller is neither the subject nor an officer.
        NotFound: the subject has no such listing.
        Conflict: the listing is not in force, its list allows no repair, the minimum publicity
            period has not run (naming the first day an application is possible), or an
            application about it is open already.
        InvalidInput: no proof, or proof out of bounds.
    """
    principal.may_read_subject(subject_id)
    if principal.role not in (Role.SUBJECT, Role.OFFICER):
        raise Forbidden(f"client {principal.name!r} may not apply for repair for a subject")
    said = rules.statement(statement)
    rules.has_proof(said, len(attachments))
    check_attachments(attachments)
    now = datetime.now(UTC)
    with store.write() as conn:
        found = stored.listing_of(conn, subject_id, listing)
        if found is None:
            raise NotFound(f"the subject has no listing {listing}")
        if (why := _standing(found, today)) is not None:
            raise Conflict(f"listing {listing} {why}; there is nothing to remove early")
        spec = _spec(found)
        rules.may_apply(found["list_name"], spec, found["criterion"], found["starts_on"], today)
        if (pending := stored.open_for_listing(conn, found["id"])) is not None:
            raise Conflict(f"application {pending} about listing {listing} is still open")
        due_on = (
            spec.review_within.after(today)
            if spec.review_within is not None
            else today + timedelta(days=settings.objection_review_days)
        )
        ref = stored.new_ref()
        repair_id = stored.add(
            conn,
            {
                "ref": ref,
                "subject_id": subject_id,
                "listing_id": found["id"],
                "statement": said,
                "filed_by": principal.name,
                "filed_at": now,
                "due_on": due_on,
                "state": State.FILED.value,
            },
        )
        for a in attachments:
            stored.add_attachment(conn, repair_id, a.name.strip(), a.media_type, a.content, now)
        row = _get(conn, ref)
        _notify(
            conn,
            row,
            f"Your application {ref} for early removal was received",
            f"Your application for early removal from the list {spec.title} (listing {listing}) "
            f"was received on {today}. A reviewer decides it by {due_on}, with reasons. Until "
            "then the listing stays in force.",
            now,
        )
        _ledger(conn, repair_id, State.FILED.value, now)
    return plain(row)


def _reviewer(principal: Principal) -> None:
    if principal.role is not Role.REVIEWER:
        raise Forbidden("only a reviewer decides repair applications")


def take(store: Store, principal: Principal, ref: str) -> dict[str, Any]:
    """A reviewer takes a filed application in review."""
    _reviewer(principal)
    now = datetime.now(UTC)
    with store.write() as conn:
        row = _get(conn, ref)
        rules.may_take(State(row["state"]))
        values = {"state": State.IN_REVIEW.value, "reviewer": principal.name}
        if not stored.change(conn, row["id"], row["state"], values):
            raise Conflict("the application moved meanwhile; read it again")
        _ledger(conn, row["id"], State.IN_REVIEW.value, now)
        return plain(_get(conn, ref))


def decide(
    store: Store,
    registry: Registry,
    principal: Principal,
    ref: str,
    *,
    decision: str,
    reasons: str,
    today: date,
) -> dict[str, Any]:
    """Approve or refuse an application with reasons (taking it in review if nobody has).

    Approval records the removal and re-rates the subject, so the listing ends today.
    """
    _reviewer(principal)
    outcome = rules.decision(decision)
    why = rules.reasons(reasons)
    now = datetime.now(UTC)
    with store.write() as conn:
        row = _get(conn, ref)
        rules.may_decide(State(row["state"]), principal.name, row["reviewer"])
        listing = stored.listing_by_id(conn, row["listing_id"])
        spec = _spec(listing)
        values: dict[str, Any] = {
            "state": outcome.value,
            "reviewer": principal.name,
            "reasons": why,
            "decided_by": principal.name,
            "decided_at": now,
        }
        if outcome is Decision.APPROVED:
            if (standing := _standing(listing, today)) is not None:
                raise Conflict(
                    f"listing {listing['ref']} {standing}; there is nothing to remove — refuse "
                    "the application with reasons saying so"
                )
            values["approval_record_id"] = _record_approval(conn, row, listing, spec, today, now)
        if not stored.change(conn, row["id"], row["state"], values):
            raise Conflict("the application moved meanwhile; read it again")
        row = _get(conn, ref)
        if outcome is Decision.APPROVED:
            title = f"Your application {ref} for early removal was approved"
            then = (
                f"Your listing {listing['ref']} on {spec.title} ends on {today}: from that day no "
                "relying party is told that its measures apply to you. The approval is a record "
                "in your file and an entry in the public ledger."
            )
        else:
            end = effective_end(listing)
            title = f"Your application {ref} for early removal was refused"
            then = (
                f"Your listing {listing['ref']} on {spec.title} stays in force"
                + (f" until {end}" if end else "")
                + ". You may apply again with further proof of performance, or object to the "
                "listing from your subject file."
            )
        _notify(conn, row, title, f"Decision: {outcome.value}.\nReasons: {why}\n{then}", now)
        _ledger(conn, row["id"], outcome.value, now)
    if outcome is Decision.APPROVED:
        rerate_subject(store, registry, row["subject_id"], today=today)
    return plain(row)


def _record_approval(
    conn: Connection,
    row: dict[str, Any],
    listing: dict[str, Any],
    spec: ListSpec,
    today: date,
    now: datetime,
) -> int:
    """Add the approval: a record of the list's repair type referring to the entry record, from
    the entry record's source (the body whose record put the subject on the list), decided
    today; its id."""
    assert spec.repair is not None  # an application is only filed for a list with repair
    entry = stored.record(conn, listing["record_id"])
    run = runs.start(conn, entry["source_id"], "api", f"repair {row['ref']}", now)
    batch = runs.add_batch(conn, run, 0, (None, None), now)
    legal_basis = (
        spec.repair.legal_basis
        or spec.legal_basis
        or f"Credit repair application {row['ref']} approved under candor's due process"
    )
    approval_id = int(
        conn.execute(
            records.insert()
            .values(
                source_id=entry["source_id"],
                source_record_id=f"{entry['source_record_id']}#repair-{row['ref']}"[:128],
                subject_id=entry["subject_id"],
                identifier_id=entry["identifier_id"],
                record_type=spec.repair.record_type,
                # No personal data: the subject is known by its id, and its name stays with
                # the entry record (sealed there where data keys seal records).
                name="",
                occurred_on=today,
                decided_on=today,
                legal_basis=legal_basis[:1000],
                status="final",
                refers_to=entry["source_record_id"],
                refers_to_id=entry["id"],
                # Another type than the entry record: not a later version of it, a trigger.
                original_id=None,
                attributes={"list": listing["list_name"], "application": row["ref"]},
                batch_id=batch,
            )
            .returning(records.c.id)
        ).scalar_one()
    )
    runs.count_batch(conn, run, batch, BatchCounts(1, 0, 0, 1))
    runs.finish(conn, run, "completed", now)
    ledger_rows.append_objects(
        conn, "records", records.c.id == approval_id, lambda _: RECORD_CORRECTION, now
    )
    return approval_id


def repairs_of(store: Store, subject_id: int) -> list[dict[str, Any]]:
    """A subject's applications with their attachments (named, hashed; not their content)."""
    with store.read() as conn:
        found = stored.of_subject(conn, subject_id)
        attached = stored.attachments_of(conn, [r["id"] for r in found])
    by: dict[int, list[dict[str, Any]]] = {}
    for a in attached:
        by.setdefault(a["repair_id"], []).append(
            plain({k: v for k, v in a.items() if k != "repair_id"})
        )
    return [{**plain(r), "attachments": by.get(r["id"], [])} for r in found]


def overdue(store: Store, today: date) -> list[dict[str, Any]]:
    """Open applications past their review deadline, oldest deadline first."""
    with store.read() as conn:
        late = stored.overdue(conn, today)
    return [
        {
            "repair": r["ref"],
            "state": r["state"],
            "due_on": r["due_on"].isoformat(),
            "days_late": (today - r["due_on"]).days,
            "reviewer": r["reviewer"],
        }
        for r in late
    ]

"""Objections and appeals, and what an upheld one sets right.

A subject (or staff acting for it) objects to a record, a listing or a rating with a statement
and attachments; a reviewer takes it, decides it with reasons; the subject may appeal within
``CANDOR_APPEAL_DAYS``, and a different reviewer decides the appeal. Every move is a ledger entry
and a notice to the subject. While an objection is open, checks about the subject carry
``disputed``.

An objection upheld in full (at first or on appeal) overturns what it was about: candor adds a
correction record — the contested record's later version, status ``overturned``, from the same
source, saying which objection decided it — re-rates the subject at once (its listings end or
change the same day, within any list's removal time), and tells every relying party that checked
the subject in the last ``CANDOR_NOTIFY_LOOKBACK_DAYS`` and was told "applies" that its answer
changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from candor.domain import objections as rules
from candor.domain.access import STAFF, Principal, Role
from candor.domain.ledger import RECORD_CORRECTION
from candor.domain.objections import ABOUT, Decision, State
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook, Period
from candor.errors import Conflict, Forbidden, InvalidInput, NotFound
from candor.services.data_keys import DataKeys, reseal
from candor.services.explain import subject_ref
from candor.services.notices import create_notice
from candor.services.plain import plain
from candor.services.rating import rerate_subject
from candor.services.rulebooks import governing
from candor.services.secret import load_secret
from candor.settings import Settings
from candor.store import Store
from candor.store import ingestions as runs
from candor.store import ledger as ledger_rows
from candor.store import objections as stored
from candor.store.ingestions import BatchCounts
from candor.store.tables import checks, clients, listings, objections, records, rulebooks

ATTACHMENT_MAX = 10 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    name: str
    media_type: str
    content: bytes


def check_attachments(attachments: Sequence[Attachment]) -> None:
    """Refuse an empty or oversized attachment, or one without a usable name (objections and
    repair applications take the same)."""
    for i, a in enumerate(attachments):
        if not a.content or len(a.content) > ATTACHMENT_MAX:
            raise InvalidInput(f"attachments[{i}]: between 1 byte and {ATTACHMENT_MAX:,} bytes")
        if not a.name.strip() or len(a.name) > 200:
            raise InvalidInput(f"attachments[{i}].name: 1 to 200 characters")


def _ledger(conn: Connection, objection_id: int, state: str, now: datetime) -> None:
    ledger_rows.append_objects(
        conn, "objections", objections.c.id == objection_id, lambda _: f"objection.{state}", now
    )


def _notify_subject(
    conn: Connection, row: dict[str, Any], title: str, body: str, now: datetime
) -> None:
    create_notice(
        conn,
        subject_id=row["subject_id"],
        kind=f"objection.{row['state']}"[:32],
        title=title[:200],
        body=body,
        data={"objection": row["ref"], "state": row["state"], "decision": row.get("decision")},
        now=now,
    )


def _get(conn: Connection, ref: str) -> dict[str, Any]:
    found = stored.by_ref(conn, ref)
    if found is None:
        raise NotFound(f"no objection {ref}")
    return found


def _review_due(
    conn: Connection,
    active: Sequence[ActiveRulebook],
    aimed: dict[str, Any],
    settings: Settings,
    today: date,
) -> date:
    """The review's deadline: the list's ``review_within`` for a listing; the shortest
    ``review_within`` any governing rulebook sets for a record's type; else the deployment's."""
    periods: list[Period] = []
    if aimed.get("listing_id") is not None:
        listing = conn.execute(
            select(listings.c.rulebook_id, listings.c.list_name).where(
                listings.c.id == aimed["listing_id"]
            )
        ).one()
        for a in active:
            spec = a.rulebook.lists.get(listing.list_name)
            if a.id == listing.rulebook_id and spec is not None and spec.review_within:
                periods.append(spec.review_within)
    elif aimed.get("record_id") is not None:
        record_type = conn.execute(
            select(records.c.record_type).where(records.c.id == aimed["record_id"])
        ).scalar_one()
        periods += [
            p for a in active if (p := a.rulebook.review_within.get(record_type)) is not None
        ]
    if not periods:
        return today + timedelta(days=settings.objection_review_days)
    return min(p.after(today) for p in periods)


def _target(conn: Connection, subject_id: int, about: str, target: str) -> dict[str, Any]:
    if about == "listing":
        row = conn.execute(
            select(listings.c.id, listings.c.record_id).where(
                listings.c.ref == target, listings.c.subject_id == subject_id
            )
        ).first()
        if row is None:
            raise NotFound(f"the subject has no listing {target}")
        return {"listing_id": row.id, "record_id": row.record_id}
    if about == "record":
        try:
            record_id = int(target)
        except ValueError:
            raise InvalidInput("target: a record's id, as the subject's file shows it") from None
        found = conn.execute(
            select(records.c.id).where(
                records.c.id == record_id, records.c.subject_id == subject_id
            )
        ).first()
        if found is None:
            raise NotFound(f"the subject has no record {record_id}")
        return {"record_id": record_id}
    found_book = conn.execute(
        select(rulebooks.c.id)
        .where(rulebooks.c.name == target)
        .order_by(rulebooks.c.effective_from.desc())
        .limit(1)
    ).first()
    if found_book is None:
        raise NotFound(f"no rulebook {target}")
    return {"rulebook_id": found_book.id}


def file_objection(
    store: Store,
    settings: Settings,
    principal: Principal,
    subject_id: int,
    *,
    about: str,
    target: str,
    statement: str,
    attachments: Sequence[Attachment] = (),
    today: date,
) -> dict[str, Any]:
    """File an objection about one of the subject's records, listings or ratings."""
    principal.may_read_subject(subject_id)
    if principal.role not in (Role.SUBJECT, *STAFF):
        raise Forbidden(f"client {principal.name!r} may not object for a subject")
    if about not in ABOUT:
        raise InvalidInput(f"about: one of {', '.join(ABOUT)}")
    said = rules.text(statement, "statement", rules.STATEMENT_MAX)
    check_attachments(attachments)
    now = datetime.now(UTC)
    active = governing(store, today)
    with store.write() as conn:
        aimed = _target(conn, subject_id, about, target)
        values = {
            "ref": stored.new_ref(),
            "subject_id": subject_id,
            "about": about,
            **aimed,
            "statement": said,
            "filed_by": principal.name,
            "filed_at": now,
            "due_on": _review_due(conn, active, aimed, settings, today),
            "state": State.FILED.value,
        }
        objection_id = stored.add(conn, values)
        for a in attachments:
            stored.add_attachment(conn, objection_id, a.name.strip(), a.media_type, a.content, now)
        row = stored.by_ref(conn, values["ref"])
        assert row is not None
        _notify_subject(
            conn,
            row,
            f"Your objection {row['ref']} was received",
            f"Your objection about a {about} was filed on {today}. A reviewer decides it by "
            f"{row['due_on']}. While it is open, every check about you says it is disputed.",
            now,
        )
        _ledger(conn, objection_id, State.FILED.value, now)
    return plain(row)


def take(store: Store, principal: Principal, ref: str) -> dict[str, Any]:
    """A reviewer takes a filed objection in review."""
    _reviewer(principal)
    now = datetime.now(UTC)
    with store.write() as conn:
        row = _get(conn, ref)
        rules.may_take(State(row["state"]))
        values = {"state": State.IN_REVIEW.value, "reviewer": principal.name}
        if not stored.change(conn, row["id"], row["state"], values):
            raise Conflict("the objection moved meanwhile; read it again")
        _ledger(conn, row["id"], State.IN_REVIEW.value, now)
        return plain(_get(conn, ref))


def _reviewer(principal: Principal) -> None:
    if principal.role is not Role.REVIEWER:
        raise Forbidden("only a reviewer decides objections")


def appeal(
    store: Store,
    settings: Settings,
    principal: Principal,
    ref: str,
    *,
    statement: str,
    today: date,
) -> dict[str, Any]:
    """The subject (or staff for it) appeals a decision."""
    said = rules.text(statement, "statement", rules.STATEMENT_MAX)
    now = datetime.now(UTC)
    with store.write() as conn:
        row = _get(conn, ref)
        principal.may_read_subject(row["subject_id"])
        if principal.role not in (Role.SUBJECT, *STAFF):
            raise Forbidden(f"client {principal.name!r} may not appeal for a subject")
        decided_at = row["decided_at"] or now
        rules.may_appeal(State(row["state"]), decided_at.date(), today, settings.appeal_days)
        values = {
            "state": State.APPEALED.value,
            "appeal_statement": said,
            "appealed_at": now,
            "appeal_due_on": today + timedelta(days=settings.objection_review_days),
        }
        if not stored.change(conn, row["id"], row["state"], values):
            raise Conflict("the objection moved meanwhile; read it again")
        row = _get(conn, ref)
        _notify_subject(
            conn,
            row,
            f"Your appeal of objection {ref} was received",
            f"A reviewer other than {row['decided_by']} decides it by {row['appeal_due_on']}.",
            now,
        )
        _ledger(conn, row["id"], State.APPEALED.value, now)
    return plain(row)


def decide(
    store: Store,
    registry: Registry,
    settings: Settings,
    principal: Principal,
    ref: str,
    *,
    decision: str,
    reasons: str,
    today: date,
) -> dict[str, Any]:
    """Decide an objection (taking it in review if nobody has)."""
    return _decide(store, registry, settings, principal, ref, decision, reasons, today, False)


def decide_appeal(
    store: Store,
    registry: Registry,
    settings: Settings,
    principal: Principal,
    ref: str,
    *,
    decision: str,
    reasons: str,
    today: date,
) -> dict[str, Any]:
    """A reviewer other than the first decides the appeal; the objection is then final."""
    return _decide(store, registry, settings, principal, ref, decision, reasons, today, True)


def _decide(
    store: Store,
    registry: Registry,
    settings: Settings,
    principal: Principal,
    ref: str,
    decision: str,
    reasons: str,
    today: date,
    on_appeal: bool,
) -> dict[str, Any]:
    _reviewer(principal)
    outcome = rules.decision(decision)
    why = rules.text(reasons, "reasons", rules.REASONS_MAX)
    now = datetime.now(UTC)
    corrected = False
    with store.write() as conn:
        row = _get(conn, ref)
        state = State(row["state"])
        if on_appeal:
            rules.may_decide_appeal(state, principal.name, row["decided_by"])
            moved_to = State.FINAL
            values: dict[str, Any] = {
                "appeal_decision": outcome.value,
                "appeal_reasons": why,
                "appeal_decided_by": principal.name,
                "appeal_decided_at": now,
            }
            first = Decision(row["decision"]) if row["decision"] else None
            corrects = rules.corrects(first, outcome)
        else:
            rules.may_decide(state, principal.name, row["reviewer"])
            moved_to = State.DECIDED
            values = {
                "reviewer": principal.name,
                "decision": outcome.value,
                "reasons": why,
                "decided_by": principal.name,
                "decided_at": now,
            }
            corrects = rules.corrects(outcome, None)
        values["state"] = moved_to.value
        if corrects and row["correction_record_id"] is None:
            values["correction_record_id"] = _correct(
                conn, row, DataKeys(load_secret(settings)), now
            )
            corrected = values["correction_record_id"] is not None
        if not stored.change(conn, row["id"], row["state"], values):
            raise Conflict("the objection moved meanwhile; read it again")
        row = _get(conn, ref)
        said = outcome.value.replace("_", " ")
        if on_appeal:
            title = f"Your appeal of objection {ref} was {said}"
            body = f"Decision on appeal: {said}.\nReasons: {why}\nThis decision is final."
        else:
            appeal_by = today + timedelta(days=settings.appeal_days)
            title = f"Your objection {ref} was {said}"
            body = (
                f"Decision: {said}.\nReasons: {why}\n"
                f"You may appeal until {appeal_by}; a different reviewer decides an appeal."
            )
        _notify_subject(conn, row, title, body, now)
        _ledger(conn, row["id"], moved_to.value, now)
    if corrected:
        _after_correction(store, registry, settings, row, today)
    return plain(row)


def _correct(
    conn: Connection, row: dict[str, Any], data_keys: DataKeys, now: datetime
) -> int | None:
    """Add the contested record's correction (status overturned); its id. None for an
    objection about a rating, which names no record."""
    record_id = row["record_id"]
    if record_id is None:
        return None
    original = dict(conn.execute(select(records).where(records.c.id == record_id)).one()._mapping)
    run = runs.start(conn, original["source_id"], "api", f"objection {row['ref']}", now)
    batch = runs.add_batch(conn, run, 0, (None, None), now)
    source_record_id = f"{original['source_record_id']}#objection-{row['ref']}"[:128]
    # The same personal data under the same subject key, sealed for the correction: a blob opens
    # only for the record it was sealed for. Erased data stays erased.
    sealed = None
    if original["sealed"] is not None or original["name"]:
        keys = data_keys.for_sealing(conn, [original["subject_id"]], now)
        sealed = reseal(keys, original, source_record_id)
    correction_id = int(
        conn.execute(
            records.insert()
            .values(
                source_id=original["source_id"],
                source_record_id=source_record_id,
                subject_id=original["subject_id"],
                identifier_id=original["identifier_id"],
                record_type=original["record_type"],
                name="",
                sealed=sealed,
                erased_on=original["erased_on"] if sealed is None else None,
                occurred_on=original["occurred_on"],
                # As of the contested decision: an upheld objection finds the record wrong
                # from the start, so every answer it gave changes (and the relying parties
                # that had them are told). When it was found is in the ledger.
                decided_on=original["decided_on"],
                legal_basis=f"Objection {row['ref']} upheld under candor's due process",
                status="overturned",
                refers_to=original["source_record_id"],
                refers_to_id=original["id"],
                original_id=original["original_id"] or original["id"],
                attributes=original["attributes"],
                batch_id=batch,
            )
            .returning(records.c.id)
        ).scalar_one()
    )
    runs.count_batch(conn, run, batch, BatchCounts(1, 0, 0, 1))
    runs.finish(conn, run, "completed", now)
    ledger_rows.append_objects(
        conn, "records", records.c.id == correction_id, lambda _: RECORD_CORRECTION, now
    )
    return correction_id


def _after_correction(
    store: Store, registry: Registry, settings: Settings, row: dict[str, Any], today: date
) -> None:
    """Re-rate the subject now, then tell relying parties whose answer changed."""
    subject_id = row["subject_id"]
    rerate_subject(store, registry, subject_id, today=today)
    since = datetime.now(UTC) - timedelta(days=settings.notify_lookback_days)
    now = datetime.now(UTC)
    ref = subject_ref(store, subject_id)
    with store.write() as conn:
        asked = conn.execute(
            select(
                checks.c.client,
                checks.c.measure,
                checks.c.as_of,
                checks.c.checked_at,
                listings.c.ref,
                listings.c.withdrawn_on,
                listings.c.removed_on,
                clients.c.id.label("client_id"),
            )
            .join(listings, listings.c.id == checks.c.listing_id)
            .join(clients, clients.c.name == checks.c.client)
            .where(
                checks.c.subject_id == subject_id,
                checks.c.applies.is_(True),
                checks.c.checked_at >= since,
            )
            .order_by(checks.c.checked_at)
        ).all()
        told: set[tuple[int, str, date]] = set()
        for a in asked:
            ended = a.withdrawn_on is not None or (
                a.removed_on is not None and a.removed_on <= a.as_of
            )
            key = (a.client_id, a.measure, a.as_of)
            if not ended or key in told:
                continue
            told.add(key)
            create_notice(
                conn,
                client_id=a.client_id,
                kind="answer.changed",
                title=f"An earlier answer about subject {ref} changed",
                body=(
                    f"On {a.checked_at:%Y-%m-%d} you checked {a.measure} for subject {ref} as "
                    f"of {a.as_of} and were told it applies (listing {a.ref}). Objection "
                    f"{row['ref']} was upheld and the listing ended: as of {a.as_of} it does "
                    "not apply. Check again before relying on the earlier answer."
                ),
                data={
                    "subject": ref,
                    "measure": a.measure,
                    "as_of": a.as_of.isoformat(),
                    "earlier": "applies",
                    "now": "does not apply",
                    "listing": a.ref,
                    "objection": row["ref"],
                },
                now=now,
            )


def objections_of(store: Store, subject_id: int) -> list[dict[str, Any]]:
    """A subject's objections with their attachments (named, hashed; not their content)."""
    with store.read() as conn:
        found = stored.of_subject(conn, subject_id)
        attached = stored.attachments_of(conn, [o["id"] for o in found])
    by: dict[int, list[dict[str, Any]]] = {}
    for a in attached:
        by.setdefault(a["objection_id"], []).append(
            plain({k: v for k, v in a.items() if k != "objection_id"})
        )
    return [{**plain(o), "attachments": by.get(o["id"], [])} for o in found]


@dataclass(frozen=True)
class Overdue:
    overdue: list[dict[str, Any]]
    finalised: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"overdue": self.overdue, "finalised": self.finalised}


def review_deadlines(store: Store, settings: Settings, today: date) -> Overdue:
    """Objections past their review or appeal deadline; decided ones whose appeal period ended
    become final (each a ledger entry)."""
    now = datetime.now(UTC)
    cutoff = datetime.combine(
        today - timedelta(days=settings.appeal_days), datetime.min.time(), tzinfo=UTC
    )
    finalised = []
    with store.write() as conn:
        for objection_id in stored.unappealed_since(conn, cutoff):
            if stored.change(conn, objection_id, State.DECIDED.value, {"state": State.FINAL.value}):
                _ledger(conn, objection_id, State.FINAL.value, now)
                finalised.append(objection_id)
        late = stored.overdue(conn, today)
        refs = [
            str(r)
            for r in conn.execute(
                select(objections.c.ref).where(objections.c.id.in_(finalised))
            ).scalars()
        ]
    return Overdue(
        [
            {
                "objection": o["ref"],
                "state": o["state"],
                "due_on": (
                    o["appeal_due_on"] if o["state"] == "appealed" else o["due_on"]
                ).isoformat(),
                "days_late": (
                    today - (o["appeal_due_on"] if o["state"] == "appealed" else o["due_on"])
                ).days,
                "reviewer": o["reviewer"],
            }
            for o in late
        ],
        refs,
    )

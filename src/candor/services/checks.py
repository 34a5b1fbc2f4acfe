"""Checks: does a measure apply to an identifier on a date? The answer says nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert

from candor.domain.listings import effective_end, in_force
from candor.domain.pseudonyms import IdentifierHasher
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook
from candor.errors import NotFound
from candor.services.rating import rate_subject, rerate_subject, subject_id_for
from candor.services.rulebooks import governing
from candor.store import ratings as stored
from candor.store.database import Store
from candor.store.tables import checks


@dataclass(frozen=True)
class CheckAnswer:
    measure: str
    as_of: date
    applies: bool
    listing: str | None  # the listing's public reference
    until: date | None
    how_to_object: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "as_of": self.as_of.isoformat(),
            "applies": self.applies,
            "listing": self.listing,
            "until": self.until.isoformat() if self.until else None,
            "how_to_object": self.how_to_object,
        }


def _lists_imposing(rulebooks: list[ActiveRulebook], measure: str) -> dict[tuple[int, str], str]:
    """(rulebook id, list name) → how to object, for every list imposing ``measure``."""
    found: dict[tuple[int, str], str] = {}
    for active in rulebooks:
        spec = active.rulebook.measures.get(measure)
        if spec is None:
            continue
        for name in spec.imposed_by:
            found[(active.id, name)] = active.rulebook.lists[name].how_to_object
    return found


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
    """Answer a check and log it (client, purpose, time, subject, answer).

    Raises:
        NotFound: no rulebook governing ``as_of`` defines ``measure``.
        InvalidInput: the identifier reference is malformed or invalid.
    """
    rulebooks = governing(store, as_of)
    imposing = _lists_imposing(rulebooks, measure)
    if not imposing:
        raise NotFound(f"no rulebook in force on {as_of} defines the measure {measure!r}")
    subject_id = subject_id_for(store, hasher, reference, today)
    listings: list[dict[str, Any]] = []
    if subject_id is not None:
        ids = [a.id for a in rulebooks]
        listings = _listings(store, registry, subject_id, ids, as_of=as_of, today=today)
    applying = [
        row
        for row in listings
        if (row["rulebook_id"], row["list_name"]) in imposing and in_force(row, as_of)
    ]
    # The listing in force longest decides `until`.
    latest = max(applying, key=lambda r: effective_end(r) or date.max, default=None)
    answer = CheckAnswer(
        measure=measure,
        as_of=as_of,
        applies=latest is not None,
        listing=latest.get("ref") if latest else None,
        until=effective_end(latest) if latest else None,
        how_to_object=imposing[(latest["rulebook_id"], latest["list_name"])] if latest else None,
    )
    with store.write() as conn:
        conn.execute(
            insert(checks).values(
                checked_at=datetime.now(UTC),
                client=client,
                purpose=purpose,
                measure=measure,
                as_of=as_of,
                subject_id=subject_id,
                applies=answer.applies,
                listing_id=latest.get("id") if latest else None,
                until=answer.until,
            )
        )
    return answer


def _listings(
    store: Store,
    registry: Registry,
    subject_id: int,
    rulebook_ids: list[int],
    *,
    as_of: date,
    today: date,
) -> list[dict[str, Any]]:
    """The subject's listings as they stand for ``as_of``.

    Stored listings answer when they account for every record about the subject and were
    computed for ``as_of`` or earlier (a listing's dates do not change as time passes). Otherwise
    the subject is rated inside the store: stored if for today, computed only for another date.
    """
    with store.read() as conn:
        fresh = not stored.is_stale(conn, subject_id)
        rated_for = stored.rated_as_of(conn, subject_id)
    if not fresh:
        # Bring the stored listings up to date first, so that every listing has its reference.
        rerate_subject(store, registry, subject_id, today=today)
        rated_for = today
    with store.read() as conn:
        saved = stored.stored_listings(conn, rulebook_ids, subject_id)
    if rated_for is not None and rated_for <= as_of:
        return [row for row in saved.values() if row["withdrawn_on"] is None]
    _, rows = rate_subject(store, registry, subject_id, as_of=as_of)
    # Computed for another date: keep the stored reference where the listing is stored.
    out = []
    for row in rows.listings:
        saved_row = saved.get((row["rulebook_id"], row["list_name"], row["record_id"]), {})
        out.append({**row, "ref": saved_row.get("ref"), "id": saved_row.get("id")})
    return out

"""Retention and erasure: personal data removed when its record type's retention ends, or at
once on an officer's order, by crypto-shredding.

``expire`` finds every record past retention (``candor.domain.retention``), removes its sealed
personal data and appends a ``record.erased`` ledger entry with the record's new digest, so that
``candor ledger verify`` still passes and the ledger shows when each record lost its personal
data. A subject left with no sealed data has its data key deleted (shredded): every copy of its
old blobs — a backup, an export — is unreadable from then on, with or without the deployment
secret.

It works a chunk of records per transaction, each complete in itself (erasures, their ledger
entries, the keys they leave idle), so a crash loses at most the chunk in flight and a run again
finishes the job; a record already erased is not a candidate, so running it twice changes
nothing the second time.

``erase_subject`` is an officer's erasure of one subject (a court order, a lawful request): every
record's personal data and the key at once, with the reason kept in ``erasures`` — never in the
ledger, which cannot forget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection

from candor.domain.access import Principal, Role
from candor.domain.ledger import RECORD_ERASED, Entry, form_digest
from candor.domain.registry import Registry, Retention
from candor.domain.retention import add_years, listing_end, retention_ends
from candor.errors import Forbidden, InvalidInput
from candor.store import Store
from candor.store import data_keys as keys
from candor.store import ledger as ledger_rows
from candor.store import retention as stored
from candor.store.sql import ids_among
from candor.store.tables import records

CHUNK = 5_000
REASON_MAX = 1000


@dataclass
class Expiry:
    """What an expiry run did."""

    as_of: date
    examined: int = 0  # records holding personal data old enough to be looked at
    erased: int = 0
    held_by_listings: int = 0  # due but for a listing on them that has not ended
    keys_shredded: int = 0
    no_retention: list[str] = field(default_factory=list)  # record types kept until erased

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "examined": self.examined,
            "erased": self.erased,
            "held_by_listings": self.held_by_listings,
            "keys_shredded": self.keys_shredded,
            "no_retention": self.no_retention,
        }


def _ledger_erased(
    conn: Connection, record_ids: Sequence[int], detail: Mapping[str, Any], now: datetime
) -> None:
    """A ``record.erased`` entry for each record, with its stored form's new digest. Last in
    the transaction: the ledger's lock is held from here to the commit."""
    if not record_ids:
        return
    forms = ledger_rows.stored_forms(conn, "records", ids_among(conn, records.c.id, record_ids))
    entries = [
        Entry(
            RECORD_ERASED,
            "records",
            int(form["id"]),
            int(form["subject_id"]),
            form_digest(list(form.values())),
            now,
            detail,
        )
        for form in forms
    ]
    ledger_rows.append(conn, entries, now)


def _due(
    rows: list[dict[str, Any]],
    retention: Mapping[str, Retention],
    listed: Mapping[int, list[dict[str, Any]]],
    as_of: date,
    report: Expiry,
) -> list[int]:
    """The ids of ``rows`` past retention on ``as_of``; counts in ``report`` those that would
    be but for a listing on them that has not ended."""
    due = []
    for row in rows:
        rule, decided = retention[row["record_type"]], row["decided_on"]
        # A listing names the first version of its decision; later versions share it.
        on_it = listed.get(row["original_id"] or row["id"], [])
        ends = retention_ends(rule, decided, on_it)
        if ends is not None and ends <= as_of:
            due.append(int(row["id"]))
            continue
        ended = [item for item in on_it if (end := listing_end(item)) is not None and end <= as_of]
        but = retention_ends(rule, decided, ended) if len(ended) < len(on_it) else None
        if but is not None and but <= as_of:
            report.held_by_listings += 1
    return due


def expire(
    store: Store,
    registry: Registry,
    *,
    as_of: date,
    today: date,
    chunk: int = CHUNK,
    on_progress: Callable[[Expiry], None] | None = None,
) -> Expiry:
    """Erase the personal data of every record past retention on ``as_of`` (see the module
    docstring); records erased are marked erased ``today``.

    Raises:
        InvalidInput: ``as_of`` is after ``today`` (that would erase data before its time).
    """
    if as_of > today:
        raise InvalidInput(
            f"as of {as_of} is after today ({today}): that would erase personal data before "
            "its retention ends"
        )
    report = Expiry(as_of)
    retention = {t: r for t in registry.record_types if (r := registry.retention_of(t))}
    report.no_retention = sorted(set(registry.record_types) - set(retention))
    if retention:
        # Nothing decided after this is past any type's retention (each counts from the
        # decision or later).
        decided_by = add_years(as_of, -min(r.years for r in retention.values()))
        after = 0
        while True:
            # Found outside the write transaction, whose lock keeps ingestion waiting: finding
            # may read much of the records table. What changed since is settled under the lock
            # (erasing skips a record erased meanwhile; listings are read there).
            with store.read() as conn:
                rows = stored.candidates(
                    conn, types=sorted(retention), decided_by=decided_by, after=after, limit=chunk
                )
            if not rows:
                break
            after = int(rows[-1]["id"])
            subjects = sorted({int(r["subject_id"]) for r in rows})
            now = datetime.now(UTC)
            with store.write() as conn:
                keys.hold_for_shredding(conn)
                due = _due(rows, retention, stored.listings_by_entry(conn, subjects), as_of, report)
                erased = stored.erase(conn, due, today)
                idle = stored.idle_keys(conn, subject_ids=subjects, limit=len(subjects))
                report.keys_shredded += len(keys.shred(conn, idle, now))
                _ledger_erased(conn, erased, {"cause": "retention"}, now)
            report.examined += len(rows)
            report.erased += len(erased)
            if on_progress:
                on_progress(report)
    report.keys_shredded += _shred_idle_keys(store, chunk)
    return report


def _shred_idle_keys(store: Store, chunk: int) -> int:
    """Shred every live key that seals nothing (its subject's data was erased by a run that
    stopped between the two, or the records it was made for were refused): a key kept without
    a use is a risk without a purpose."""
    shredded, after = 0, 0
    while True:
        with store.read() as conn:  # found without the lock, confirmed under it
            found = stored.idle_keys(conn, after=after, limit=chunk)
        if not found:
            return shredded
        after = found[-1]
        with store.write() as conn:
            keys.hold_for_shredding(conn)
            idle = stored.idle_keys(conn, subject_ids=found, limit=len(found))
            shredded += len(keys.shred(conn, idle, datetime.now(UTC)))


@dataclass(frozen=True)
class Erasure:
    """An officer's erasure of one subject's personal data."""

    id: int
    erased: int  # records whose personal data it removed
    key_shredded: bool
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "erasure": self.id,
            "erased": self.erased,
            "key_shredded": self.key_shredded,
            "at": self.at.isoformat(),
        }


def erase_subject(
    store: Store, principal: Principal, subject_id: int, *, reason: str, today: date
) -> Erasure:
    """Erase all of one subject's personal data now and shred its key, for the reason given
    (a court order, a lawful request for erasure). Its records stay — their type, dates, status
    and legal basis, which rate and list it — without the name and personal attributes.

    Raises:
        Forbidden: the principal is not an officer.
        InvalidInput: no reason, or one over 1,000 characters.
    """
    if principal.role is not Role.OFFICER:
        raise Forbidden(f"client {principal.name!r} may not erase a subject's personal data")
    why = reason.strip()
    if not why:
        raise InvalidInput("reason: say why this subject's personal data is erased")
    if len(why) > REASON_MAX:
        raise InvalidInput(f"reason: at most {REASON_MAX} characters")
    now = datetime.now(UTC)
    with store.write() as conn:
        keys.hold_for_shredding(conn)
        held = stored.holding_personal_data(conn, subject_id)
        erasure = stored.add_erasure(conn, subject_id, why, principal.name, now, len(held))
        erased = stored.erase(conn, held, today)
        shredded = keys.shred(conn, [subject_id], now)
        _ledger_erased(conn, erased, {"cause": "erasure", "erasure": erasure}, now)
    return Erasure(erasure, len(erased), bool(shredded), now)

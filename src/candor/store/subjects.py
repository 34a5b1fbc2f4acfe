"""Subjects and the keyed hashes of their identifiers: finding them, creating them in bulk."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, select, update

from candor.domain.pseudonyms import Hashed
from candor.store import identifier_keys
from candor.store.bulk import driver_value, insert_rows, reserve_ids
from candor.store.sql import binary_among
from candor.store.tables import identifiers, subjects


@dataclass(frozen=True, slots=True)
class NewIdentifier:
    """An identifier seen in a batch: its keyed hash and what it says about its subject.

    ``digest`` is under the process's newest key, ``previous`` under the key before it (None
    with one key): see ``candor.domain.pseudonyms.Hashed``.
    """

    scheme: str
    digest: bytes
    kind: str
    region_code: str | None
    birth_date: date | None
    previous: bytes | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    identifier_id: int
    subject_id: int
    kind: str  # the subject's kind as stored (after this batch settled an unknown one)


def new_ref() -> str:
    """A subject's public reference: 80 random bits in hex, prefixed so it reads as a subject."""
    return "S" + secrets.token_hex(10).upper()


def _find_under(
    conn: Connection, key_id: int, digests: Sequence[bytes], names: Sequence[bytes]
) -> dict[bytes, Resolved]:
    """Known identifiers among ``digests`` under ``key_id``, each found one by its name in
    ``names`` (the same position)."""
    if not digests:
        return {}
    name_of = dict(zip(digests, names, strict=True))
    query = (
        select(identifiers.c.digest, identifiers.c.id, identifiers.c.subject_id, subjects.c.kind)
        .join(subjects, subjects.c.id == identifiers.c.subject_id)
        .where(identifiers.c.key_id == key_id, binary_among(conn, identifiers.c.digest, digests))
    )
    return {
        name_of[bytes(digest)]: Resolved(ident, subject, kind)
        for digest, ident, subject, kind in conn.execute(query).all()
    }


def find(conn: Connection, hashed: Hashed) -> dict[bytes, Resolved]:
    """Known identifiers among ``hashed``, by their hash under the newest key.

    Hashes not yet re-keyed by a rotation are looked up under the key before, first: a rotation
    only moves hashes up, so one it moves between the two reads is found by the second.
    """
    found: dict[bytes, Resolved] = {}
    if hashed.previous_key_id is not None and hashed.previous is not None:
        found = _find_under(conn, hashed.previous_key_id, hashed.previous, hashed.digests)
    rest = [d for d in hashed.digests if d not in found]
    found.update(_find_under(conn, hashed.key_id, rest, rest))
    return found


def resolve(
    conn: Connection,
    keys: tuple[int, int | None],
    seen: Sequence[NewIdentifier],
    now: datetime,
    known: Mapping[bytes, Resolved] | None = None,
) -> dict[bytes, Resolved]:
    """Every identifier in ``seen`` mapped to its subject (by its newest hash), creating
    subjects for new ones.

    ``keys`` are the newest key of the hashes in ``seen`` and the one before it (or None). New
    identifiers are written under the store's newest key (``identifier_keys.writing_key``).
    ``known`` holds identifiers the caller resolved in committed transactions of its own and
    whose subject's kind is settled; they are not looked up again. A subject of unknown kind
    (scheme ``other``) takes the kind a later record settles.

    Raises:
        StaleSecret: the store has a key newer than ``keys``.
    """
    key_id, previous_key_id = keys
    # Read first: a key registered after this read only ever has hashes moved to it, and the
    # lookup below tries both layers, older first.
    writing = identifier_keys.writing_key(conn, key_id, previous_key_id)
    known = known or {}
    found = {s.digest: known[s.digest] for s in seen if s.digest in known}
    looking = [s for s in seen if s.digest not in found]
    found.update(
        find(
            conn,
            Hashed(
                key_id,
                [s.digest for s in looking],
                previous_key_id,
                [s.previous or b"" for s in looking] if previous_key_id is not None else None,
            ),
        )
    )
    settle = [
        (found[s.digest].subject_id, s.kind, s.digest)
        for s in seen
        if s.digest in found and found[s.digest].kind == "unknown" and s.kind != "unknown"
    ]
    if settle:
        conn.execute(
            update(subjects)
            .where(subjects.c.id == bindparam("sid"), subjects.c.kind == "unknown")
            .values(kind=bindparam("k")),
            [{"sid": sid, "k": kind} for sid, kind, _ in settle],
        )
        # Read the kinds back: a concurrent writer may have settled one first, differently.
        kinds = dict(
            conn.execute(
                select(subjects.c.id, subjects.c.kind).where(
                    subjects.c.id.in_([sid for sid, _, _ in settle])
                )
            ).all()
        )
        for sid, _, digest in settle:
            found[digest] = Resolved(found[digest].identifier_id, sid, kinds[sid])

    new = [s for s in seen if s.digest not in found]
    if not new:
        return found
    # Not found may mean moved by a rotation to a key registered since the read above.
    identifier_keys.check_not_behind(conn, key_id)
    subject_ids = reserve_ids(conn, subjects, len(new))
    identifier_ids = reserve_ids(conn, identifiers, len(new))
    created = driver_value(conn, subjects, "created_at", now)
    insert_rows(
        conn,
        subjects,
        ("id", "ref", "kind", "region_code", "birth_date", "created_at"),
        [
            (
                sid,
                new_ref(),
                s.kind,
                s.region_code,
                driver_value(conn, subjects, "birth_date", s.birth_date),
                created,
            )
            for s, sid in zip(new, subject_ids, strict=True)
        ],
    )
    insert_rows(
        conn,
        identifiers,
        ("id", "subject_id", "scheme", "key_id", "digest", "created_at"),
        [
            (
                iid,
                sid,
                s.scheme,
                writing,
                s.digest if writing == key_id else s.previous,
                created,
            )
            for s, sid, iid in zip(new, subject_ids, identifier_ids, strict=True)
        ],
    )
    for s, sid, iid in zip(new, subject_ids, identifier_ids, strict=True):
        found[s.digest] = Resolved(iid, sid, s.kind)
    return found


def by_ref(conn: Connection, ref: str) -> int | None:
    """The id of the subject with this public reference."""
    found = conn.execute(select(subjects.c.id).where(subjects.c.ref == ref)).scalar()
    return int(found) if found is not None else None

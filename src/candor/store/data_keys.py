"""Subjects' wrapped data keys in the store, and the lock that keeps sealing and shredding apart.

A key must never be shredded while a transaction that has read it is still sealing new data
under it: that data would be unreadable from the moment it is acknowledged. SQLite runs one
write transaction at a time, which already keeps them apart. On PostgreSQL every transaction
that seals takes the erasure lock shared (one advisory lock, not a lock per key) and every
transaction that shreds takes it exclusively, before reading anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, text, update

from candor.store.bulk import driver_value, insert_rows
from candor.store.sql import ids_among
from candor.store.tables import subject_keys

_LOCK_KEY = "'subject_keys'::regclass::oid::bigint"


def hold_for_sealing(conn: Connection) -> None:
    """Keep keys from being shredded until this transaction ends (PostgreSQL; SQLite's write
    transaction already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({_LOCK_KEY})"))


def hold_for_shredding(conn: Connection) -> None:
    """Wait for every transaction sealing under a key to end, and keep new ones out until this
    one ends. Take it first: a transaction that has read a key must not wait on it."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))


def stored(conn: Connection, subject_ids: Sequence[int]) -> dict[int, tuple[int, bytes | None]]:
    """The key rows of those subjects that have one: subject id → (KEK id, wrapped key, None
    when shredded)."""
    if not subject_ids:
        return {}
    rows = conn.execute(
        select(subject_keys.c.subject_id, subject_keys.c.kek_id, subject_keys.c.wrapped).where(
            ids_among(conn, subject_keys.c.subject_id, subject_ids)
        )
    )
    return {int(s): (int(k), bytes(w) if w is not None else None) for s, k, w in rows}


def add(
    conn: Connection,
    new: Sequence[tuple[int, int, bytes]],
    replacing: Sequence[tuple[int, int, bytes]],
    now: datetime,
) -> None:
    """Store new keys, each (subject id, KEK id, wrapped key): ``new`` for subjects without a
    row, ``replacing`` for subjects whose key was shredded. A subject whose key another writer
    stored meanwhile keeps that one: the caller reads the keys again."""
    if new:
        created = driver_value(conn, subject_keys, "created_at", now)
        insert_rows(
            conn,
            subject_keys,
            ("subject_id", "kek_id", "wrapped", "created_at"),
            [(s, k, w, created) for s, k, w in new],
            skip_conflicts_on=("subject_id",),
        )
    if replacing:
        conn.execute(
            update(subject_keys)
            .where(
                subject_keys.c.subject_id == bindparam("subject"),
                subject_keys.c.wrapped.is_(None),
            )
            .values(
                kek_id=bindparam("kek"), wrapped=bindparam("key"), created_at=now, shredded_at=None
            ),
            [{"subject": s, "kek": k, "key": w} for s, k, w in replacing],
        )


def shred(conn: Connection, subject_ids: Sequence[int], now: datetime) -> list[int]:
    """Delete the keys of these subjects (call under ``hold_for_shredding``); the subjects
    whose key this deleted."""
    if not subject_ids:
        return []
    rows = conn.execute(
        update(subject_keys)
        .where(
            ids_among(conn, subject_keys.c.subject_id, subject_ids),
            subject_keys.c.wrapped.is_not(None),
        )
        .values(wrapped=None, shredded_at=now)
        .returning(subject_keys.c.subject_id)
    )
    return sorted(int(r[0]) for r in rows)


def shredded_at(conn: Connection, subject_id: int) -> datetime | None:
    return conn.execute(
        select(subject_keys.c.shredded_at).where(
            subject_keys.c.subject_id == subject_id, subject_keys.c.wrapped.is_(None)
        )
    ).scalar()

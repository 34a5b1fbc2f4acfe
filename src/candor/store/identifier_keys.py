"""Which identifier keys the store's hashes use, and re-keying them (``candor keys rotate``).

A key is registered here before any hash is re-keyed to it and before any new identifier is
written under it, so a reader that finds a hash missing and a newer key registered knows its
secret is behind (``candor.errors.StaleSecret``), instead of taking the subject for unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, select, update

from candor.errors import ConfigurationError, StaleSecret
from candor.store.tables import identifier_keys, identifiers

# The newest registered key, as a scalar subquery for statements that read it with a lookup.
NEWEST = select(func.coalesce(func.max(identifier_keys.c.id), 1)).scalar_subquery()


def newest(conn: Connection) -> int:
    """The newest key registered (1 on a store that has never rotated)."""
    return int(conn.execute(select(NEWEST)).scalar_one())


def writing_key(conn: Connection, key_id: int, previous_key_id: int | None) -> int:
    """The key new identifiers are written under: the store's newest, which a process holding
    keys ``key_id`` (and ``previous_key_id`` before it) must know.

    A process may hold a key the store has not registered yet: a rotation writes the secret
    file first and registers the key a little later, so that running processes have read it
    by then. Until then they write as everyone else does, under the key before.

    Raises:
        StaleSecret: the store has a newer key than the process.
        ConfigurationError: the process's secret has keys the store never registered.
    """
    registered = newest(conn)
    if registered > key_id:
        raise StaleSecret(key_id, registered)
    if registered in (key_id, previous_key_id):
        return registered
    raise ConfigurationError(
        f"the deployment secret holds key {key_id}, but the store's newest identifier key is "
        f"{registered}: keys are added by `candor keys rotate` only"
    )


def check_not_behind(conn: Connection, key_id: int) -> None:
    """Raise StaleSecret when the store has a key newer than ``key_id``; call after a lookup
    (in the same transaction), so that a hash the lookup missed because a rotation had moved
    it is told apart from an unknown identifier."""
    registered = newest(conn)
    if registered > key_id:
        raise StaleSecret(key_id, registered)


def register(conn: Connection, key_id: int, now: datetime) -> None:
    if conn.execute(select(identifier_keys.c.id).where(identifier_keys.c.id == key_id)).first():
        return
    conn.execute(insert(identifier_keys).values(id=key_id, registered_at=now))


def usage(conn: Connection) -> dict[int, int]:
    """Stored identifier hashes per key."""
    return {
        int(k): int(n)
        for k, n in conn.execute(
            select(identifiers.c.key_id, func.count()).group_by(identifiers.c.key_id)
        )
    }


def registered(conn: Connection) -> dict[int, tuple[datetime, datetime | None]]:
    """Registered keys: when each was registered, and when hashes were last re-keyed to it."""
    return {
        int(key_id): (at, rekeyed)
        for key_id, at, rekeyed in conn.execute(
            select(
                identifier_keys.c.id, identifier_keys.c.registered_at, identifier_keys.c.rekeyed_at
            )
        )
    }


def rekey_some(
    conn: Connection,
    key_id: int,
    rewrap: Callable[[bytes, int], bytes],
    *,
    after: int,
    limit: int,
) -> tuple[int, int | None]:
    """Re-key up to ``limit`` hashes under keys older than ``key_id``, with ids above ``after``,
    in id order; return how many and the last id (None when there were none).

    Each row is updated in place, its id unchanged (records point at it), and only if it is
    still under the key read: a concurrent rotation's row is left alone.
    """
    rows = conn.execute(
        select(identifiers.c.id, identifiers.c.key_id, identifiers.c.digest)
        .where(identifiers.c.key_id < key_id, identifiers.c.id > after)
        .order_by(identifiers.c.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0, None
    conn.execute(
        update(identifiers)
        .where(identifiers.c.id == bindparam("row_id"), identifiers.c.key_id == bindparam("old"))
        .values(key_id=key_id, digest=bindparam("new_digest")),
        [{"row_id": i, "old": k, "new_digest": rewrap(bytes(d), int(k))} for i, k, d in rows],
    )
    return len(rows), int(rows[-1][0])


def lagging(conn: Connection, key_id: int) -> int:
    """Hashes still under a key older than ``key_id``."""
    return int(
        conn.execute(
            select(func.count()).select_from(identifiers).where(identifiers.c.key_id < key_id)
        ).scalar_one()
    )


def finish(conn: Connection, key_id: int, now: datetime, rekeyed: int) -> None:
    conn.execute(
        update(identifier_keys)
        .where(identifier_keys.c.id == key_id)
        .values(rekeyed_at=now, rekeyed=func.coalesce(identifier_keys.c.rekeyed, 0) + rekeyed)
    )

"""Rotating the identifier key: ``candor keys rotate``, without stopping anything.

1. A new key is appended to the secret file (atomically, mode 0600), under an exclusive lock on
   ``SECRET.lock`` so that two rotations never write two different keys with one id.
2. A grace period lets running processes read the file (a server looks at it once a second):
   from then on they look identifiers up under the new key and the one before.
3. The key is registered in the store. Processes write new identifiers under the store's newest
   key, and one that finds a newer key registered than its secret holds reads the secret again
   or fails loudly (``StaleSecret``) — it never takes a moved hash for an unknown identifier.
4. The stored hashes are re-keyed in place, in batches of one transaction each: the new hash is
   HMAC(new key, old hash) (see ``candor.domain.pseudonyms``), so no identifier is needed.
   Checks, ingestion and reads go on throughout.

An interrupted rotation is finished by running ``candor keys rotate`` again: with hashes left
under an older key, or a key in the secret the store has not registered, it resumes instead of
adding another key.
"""

from __future__ import annotations

import fcntl
import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from candor.domain.pseudonyms import IdentifierHasher
from candor.errors import ConfigurationError, StaleSecret
from candor.services.secret import add_key, load_secret
from candor.settings import Settings
from candor.store import identifier_keys as keys_table
from candor.store.database import Store

_T = TypeVar("_T")
REKEY_BATCH = 20_000
# Longer than a KeyRing waits between looks at the secret file, with room for a busy machine.
GRACE_S = 3.0


@dataclass(frozen=True)
class Rotation:
    key_id: int  # the newest key, which every stored hash is under now
    added: bool  # a key was added (False: an interrupted rotation was finished)
    rekeyed: int  # hashes re-keyed by this run
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key_id,
            "added": self.added,
            "rekeyed": self.rekeyed,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class KeyState:
    id: int
    in_secret: bool
    registered_at: datetime | None
    rekeyed_at: datetime | None
    hashes: int  # stored identifier hashes under this key

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "in_secret": self.in_secret,
            "registered_at": self.registered_at.isoformat() if self.registered_at else None,
            "rekeyed_at": self.rekeyed_at.isoformat() if self.rekeyed_at else None,
            "hashes": self.hashes,
        }


def key_states(store: Store, settings: Settings) -> list[KeyState]:
    """Every key the secret or the store knows, with the hashes under it."""
    in_secret = {k.id for k in load_secret(settings).keys}
    with store.read() as conn:
        registered = keys_table.registered(conn)
        used = keys_table.usage(conn)
    states = []
    for key_id in sorted(in_secret | set(registered) | set(used)):
        at, rekeyed = registered.get(key_id, (None, None))
        states.append(KeyState(key_id, key_id in in_secret, at, rekeyed, used.get(key_id, 0)))
    return states


@contextmanager
def _rotation_lock(settings: Settings) -> Iterator[None]:
    path = settings.secret_file.with_name(f"{settings.secret_file.name}.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise ConfigurationError(f"cannot open the rotation lock {path}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigurationError("another `candor keys rotate` is running") from None
        yield
    finally:
        os.close(fd)


def rotate(
    store: Store,
    settings: Settings,
    *,
    grace_s: float = GRACE_S,
    batch: int = REKEY_BATCH,
    on_progress: Callable[[int, int], None] | None = None,
) -> Rotation:
    """Add an identifier key and re-key every stored hash to it (or finish a rotation that
    was interrupted); ``on_progress(done, total)`` after each batch.

    Raises:
        ConfigurationError: the secret is in ``CANDOR_SECRET`` (nothing to rewrite), cannot be
            written, or another rotation is running.
        StaleSecret: the store has a newer key than the secret file.
    """
    started = time.monotonic()
    if settings.secret:
        add_key(settings)  # raises, saying why and what to do instead
    with _rotation_lock(settings):
        hasher = load_secret(settings).identifier_hasher()
        with store.read() as conn:
            registered = keys_table.newest(conn)
            behind = keys_table.lagging(conn, registered)
        if registered > hasher.key_id:
            raise StaleSecret(hasher.key_id, registered)
        added = registered == hasher.key_id and behind == 0
        if added:
            add_key(settings)
            hasher = load_secret(settings).identifier_hasher()
            time.sleep(grace_s)
        rekeyed = 0
        # One key at a time: lookups try the newest key and the one before, so hashes are never
        # more than one key apart while anything runs.
        for key_id in range(max(registered, 2), hasher.key_id + 1):
            rekeyed += _rekey_to(store, hasher.upto(key_id), batch, on_progress)
    return Rotation(hasher.key_id, added, rekeyed, time.monotonic() - started)


# Deadlock and serialization failure (PostgreSQL), a busy SQLite: a batch that met a concurrent
# writer (an ingestion whose new records reference a hash being re-keyed) is tried again.
_TRANSIENT = {"40001", "40P01"}
ATTEMPTS = 8


def _retrying(store: Store, work: Callable[[Connection], _T]) -> _T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with store.write() as conn:
                return work(conn)
        except OperationalError as e:
            original = getattr(e, "orig", e)
            transient = getattr(original, "sqlstate", None) in _TRANSIENT or (
                "database is locked" in str(original)
            )
            if not transient or attempt == ATTEMPTS:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _rekey_to(
    store: Store,
    hasher: IdentifierHasher,
    batch: int,
    on_progress: Callable[[int, int], None] | None,
) -> int:
    key_id = hasher.key_id
    with store.write() as conn:
        keys_table.register(conn, key_id, datetime.now(UTC))
    with store.read() as conn:
        total = keys_table.lagging(conn, key_id)
    done, after = 0, 0
    if on_progress:
        on_progress(0, total)
    while True:
        count, last = _retrying(
            store,
            functools.partial(
                keys_table.rekey_some, key_id=key_id, rewrap=hasher.rewrap, after=after, limit=batch
            ),
        )
        if last is None:
            # Hashes written under the key before while this ran (by processes that had not
            # yet seen this key registered) have ids above `after`: a last pass from the start
            # finds any a concurrent writer put below it.
            with store.read() as conn:
                if keys_table.lagging(conn, key_id) == 0:
                    break
            after = 0
            continue
        done += count
        after = last
        if on_progress:
            on_progress(done, max(total, done))
    with store.write() as conn:
        keys_table.finish(conn, key_id, datetime.now(UTC), done)
    return done

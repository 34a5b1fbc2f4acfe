"""Subjects' data keys as a service: created, wrapped and unwrapped in bulk, and the records'
personal data sealed and opened with them (see ``candor.domain.sealing``).

The key-encryption key (KEK) is derived from the deployment secret with HKDF under its own
purpose, as the ledger's signing key is: the identifier key never encrypts anything. New data
keys are wrapped under the newest secret key; a key wrapped under an older one still opens, since
the secret keeps every key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection

from candor.domain.pseudonyms import derive_key
from candor.domain.sealing import (
    KEY_BYTES,
    NONCE_BYTES,
    UNREADABLE_NAME,
    Personal,
    Unopenable,
    erased_name,
    read_plaintext,
    record_context,
    seal,
    unseal,
    unwrap,
    wrap,
)
from candor.errors import ConfigurationError
from candor.services.secret import DeploymentSecret
from candor.store import data_keys as stored

DATA_KEYS_PURPOSE = b"candor/data-keys/v1"
# Unwrapped keys kept between batches, by (subject, wrapped key): a key shredded and replaced
# is another entry, and a shredded one is never looked up (only live keys are read). About
# 300 bytes each.
CACHE_MAX = 200_000


class DataKeys:
    """The data keys of a deployment's subjects, for one process (thread-safe for reading the
    cache; each transaction reads the keys it uses from the store)."""

    def __init__(self, secret: DeploymentSecret | Callable[[], DeploymentSecret]) -> None:
        """``secret`` may be a function that reads it again: for a long-running process that
        meets a key wrapped under a secret key rotated in after it started."""
        self._load = secret if callable(secret) else (lambda: secret)
        self._secret = self._load()
        self._keks: dict[int, AESGCM] = {}
        self._cache: dict[tuple[int, bytes], AESGCM] = {}

    def _kek(self, key_id: int) -> AESGCM:
        found = self._keks.get(key_id)
        if found is not None:
            return found
        key = next((k for k in self._secret.keys if k.id == key_id), None)
        if key is None:
            self._secret = self._load()
            key = next((k for k in self._secret.keys if k.id == key_id), None)
        if key is None:
            raise ConfigurationError(
                f"a subject's data key is wrapped under deployment secret key {key_id}, which "
                "this process's secret lacks: give it the current secret file (or CANDOR_SECRET)"
            )
        found = self._keks[key_id] = AESGCM(derive_key(key.material, DATA_KEYS_PURPOSE))
        return found

    def _unwrapped(self, subject_id: int, kek_id: int, wrapped: bytes) -> AESGCM:
        found = self._cache.get((subject_id, wrapped))
        if found is None:
            found = AESGCM(unwrap(self._kek(kek_id), wrapped, subject_id))
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[(subject_id, wrapped)] = found
        return found

    def for_sealing(
        self, conn: Connection, subject_ids: Iterable[int], now: datetime
    ) -> dict[int, AESGCM]:
        """Each subject's data key, created (or, after a shredding, replaced) where it has none,
        in the open write transaction, which keeps them from being shredded until it ends.

        Raises:
            ConfigurationError: a key is wrapped under a secret key this process lacks.
        """
        wanted = sorted(set(subject_ids))
        stored.hold_for_sealing(conn)
        rows = stored.stored(conn, wanted)
        missing = [s for s in wanted if s not in rows]
        shredded = [s for s in wanted if s in rows and rows[s][1] is None]
        if missing or shredded:
            kek_id = self._secret.current.id
            kek = self._kek(kek_id)
            made = {}
            for subject in (*missing, *shredded):
                key = os.urandom(KEY_BYTES)
                wrapped = wrap(kek, os.urandom(NONCE_BYTES), key, subject)
                made[subject] = (kek_id, wrapped)
                self._cache[(subject, wrapped)] = AESGCM(key)
            stored.add(
                conn,
                [(s, *made[s]) for s in missing],
                [(s, *made[s]) for s in shredded],
                now,
            )
            # Another writer may have stored a key for one of them first: use what is stored.
            rows.update(stored.stored(conn, [*missing, *shredded]))
        keys = {}
        for subject, (wrapped_by, held) in rows.items():
            if held is None:
                continue
            try:
                keys[subject] = self._unwrapped(subject, wrapped_by, held)
            except Unopenable:
                # Sealing under another key would leave data no one can open: stop instead.
                raise ConfigurationError(
                    f"the data key of subject {subject} does not open under deployment secret "
                    f"key {wrapped_by}: its row in subject_keys was changed, or this is not the "
                    "deployment's secret"
                ) from None
        return keys

    def for_opening(self, conn: Connection, subject_ids: Iterable[int]) -> dict[int, AESGCM]:
        """The live data keys of these subjects (a subject without one has none)."""
        rows = stored.stored(conn, sorted(set(subject_ids)))
        keys = {}
        for subject, (kek_id, wrapped) in rows.items():
            if wrapped is None:
                continue
            try:
                keys[subject] = self._unwrapped(subject, kek_id, wrapped)
            except Unopenable:  # a changed wrapped key: its data reads as unreadable
                continue
        return keys


def seal_all(
    keys: Mapping[int, AESGCM],
    subject_ids: list[int],
    plaintexts: list[bytes],
    source_id: int,
    source_record_ids: list[str],
) -> list[bytes]:
    """Each record's sealed personal data, in order (one random nonce each): what
    ``seal(…, record_context(source_id, srid))`` gives, without a call per record (ingestion
    seals every record it accepts)."""
    nonces = os.urandom(NONCE_BYTES * len(plaintexts))
    prefix = record_context(source_id, "")
    sealed: list[bytes] = []
    append = sealed.append
    at = 0
    for subject, text, srid in zip(subject_ids, plaintexts, source_record_ids, strict=True):
        nonce = nonces[at : at + NONCE_BYTES]
        at += NONCE_BYTES
        append(nonce + keys[subject].encrypt(nonce, text, prefix + srid.encode()))
    return sealed


def open_personal(keys: Mapping[int, AESGCM], record: Mapping[str, Any]) -> Personal | None:
    """A stored record's personal data (its row needs source_id, source_record_id, subject_id,
    name and sealed); None when it has none: erased, or never sealed.

    Raises:
        Unopenable: the record is sealed, but not under its subject's live key (the key was
            shredded, or the blob or the key was changed).
    """
    blob = record["sealed"]
    if blob is None:
        return Personal(record["name"], {}) if record["name"] else None
    key = keys.get(record["subject_id"])
    if key is None:
        raise Unopenable("the subject's data key is gone")
    context = record_context(record["source_id"], record["source_record_id"])
    return read_plaintext(unseal(key, bytes(blob), context))


def reseal(
    keys: Mapping[int, AESGCM], record: Mapping[str, Any], source_record_id: str
) -> bytes | None:
    """A stored record's personal data sealed again for another record of the same source and
    subject (a correction candor adds): the same data under the same subject key, bound to the
    new record. None when the record has none; unreadable data stays unreadable (None)."""
    try:
        personal = open_personal(keys, record)
    except Unopenable:
        return None
    if personal is None:
        return None
    return seal(
        keys[record["subject_id"]],
        os.urandom(NONCE_BYTES),
        personal.plaintext(),
        record_context(record["source_id"], source_record_id),
    )


def shown(keys: Mapping[int, AESGCM], record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as a reader shows it: ``name`` and ``attributes`` opened — or the name
    saying it was erased, or cannot be opened — and the sealed bytes left out. Never fails."""
    out = {k: v for k, v in record.items() if k != "sealed"}
    attributes = record.get("attributes")
    if isinstance(attributes, str | bytes):
        attributes = orjson.loads(attributes)
    try:
        personal = open_personal(keys, record)
    except Unopenable:
        out["name"] = UNREADABLE_NAME
        return out
    erased_on: date | None = record.get("erased_on")
    if personal is None:
        out["name"] = erased_name(erased_on) if erased_on is not None else None
        return out
    out["name"] = personal.name
    if personal.attributes:
        out["attributes"] = {**(attributes or {}), **personal.attributes}
    return out


def shown_records(
    conn: Connection, keys: DataKeys, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``shown`` for many stored records, their subjects' keys read at once; the internal ids
    that only opening needed (source_id, subject_id) left out."""
    opened = keys.for_opening(conn, {r["subject_id"] for r in records})
    return [
        {k: v for k, v in shown(opened, r).items() if k not in ("source_id", "subject_id")}
        for r in records
    ]

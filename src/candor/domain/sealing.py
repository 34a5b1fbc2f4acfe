"""Sealed personal data: a record's name and personal attributes, encrypted under its subject's
data key, so that erasing them is deleting that key (crypto-shredding).

Each subject has one random AES-256 data key, kept only wrapped (AES-256-GCM) under a
key-encryption key derived from the deployment secret. A record's personal fields are one blob:
the 12-byte nonce, then the AES-256-GCM ciphertext of their canonical JSON. Both encryptions
carry associated data that names what they belong to — a wrapped key its subject, a blob its
record (source and ``source_record_id``) — so neither opens if moved to another row.

Once a subject's key is deleted, every copy of its blobs (a backup, an export, a replica) is
noise: AES-GCM without the key reveals nothing but the length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_RECORD = b"candor/record/v1"
_DATA_KEY = b"candor/data-key/v1"


class Unopenable(ValueError):
    """A blob or wrapped key that does not open: the wrong key, the wrong row, or changed bytes."""


def record_context(source_id: int, source_record_id: str) -> bytes:
    """The associated data that binds a blob to its record (a source's id names one record)."""
    return b"%s\x00%d\x00%s" % (_RECORD, source_id, source_record_id.encode())


def seal(key: AESGCM, nonce: bytes, plaintext: bytes, context: bytes) -> bytes:
    """``nonce`` (12 random bytes, never reused with ``key``) followed by the ciphertext."""
    return nonce + key.encrypt(nonce, plaintext, context)


def unseal(key: AESGCM, blob: bytes, context: bytes) -> bytes:
    """The plaintext of a blob ``seal`` made with ``key`` and ``context``.

    Raises:
        Unopenable: another key, another context, or the blob was changed.
    """
    try:
        return key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
    except (InvalidTag, ValueError):
        raise Unopenable("the sealed data does not open with this subject's key") from None


def wrap(kek: AESGCM, nonce: bytes, data_key: bytes, subject_id: int) -> bytes:
    return seal(kek, nonce, data_key, b"%s\x00%d" % (_DATA_KEY, subject_id))


def unwrap(kek: AESGCM, wrapped: bytes, subject_id: int) -> bytes:
    """The data key ``wrap`` wrapped for ``subject_id``.

    Raises:
        Unopenable: another key-encryption key, another subject, or changed bytes.
    """
    return unseal(kek, wrapped, b"%s\x00%d" % (_DATA_KEY, subject_id))


@dataclass(frozen=True)
class Personal:
    """What a blob holds: the name the source gave, and the record's personal attributes."""

    name: str
    attributes: dict[str, Any]

    def plaintext(self) -> bytes:
        return plaintext(self.name, self.attributes)


def plaintext(name: str, attributes: Mapping[str, Any] | None = None) -> bytes:
    """The canonical JSON a blob seals (``attributes`` only when there are any)."""
    doc: dict[str, Any] = {"name": name}
    if attributes:
        doc["attributes"] = dict(attributes)
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def read_plaintext(data: bytes) -> Personal:
    doc = orjson.loads(data)
    return Personal(str(doc["name"]), dict(doc.get("attributes") or {}))


def split_attributes(
    attributes: Mapping[str, Any], personal: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``attributes`` as (kept in the clear, sealed)."""
    kept = {k: v for k, v in attributes.items() if k not in personal}
    sealed = {k: v for k, v in attributes.items() if k in personal}
    return kept, sealed


def erased_name(on: date) -> str:
    """What a reader shows for a name that was erased."""
    return f"[erased on {on.isoformat()}]"


UNREADABLE_NAME = "[sealed data that does not open]"

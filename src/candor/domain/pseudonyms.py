"""Keyed hashes of external identifiers: the only form in which candor keeps them.

A resident ID has little entropy (region, birth date, sequence number), so a plain hash would be
reversed by enumeration; HMAC-SHA256 under the deployment secret is not. Keys for different
purposes are derived from the one secret with HKDF, so the identifier key never signs anything.

Key rotation wraps: the hash under key n is HMAC(key n, hash under key n-1), and under key 1
HMAC(key 1, ``scheme:identifier``). A rotation to key n+1 thus re-keys a stored hash from the
hash alone — candor never holds the identifier it would otherwise need — and afterwards the
store cannot be linked to identifiers by anyone holding only the keys up to n (an old copy of
the secret, a leaked backup of it). The secret keeps every key, each being a layer; the row's
``key_id`` says how many layers its hash has. While a rotation runs, rows are one layer apart
at most, so lookups try the newest layer and the one below it (``Hashed``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

IDENTIFIER_PURPOSE = b"candor/identifier-hmac/v1"
_BLOCK = 64  # SHA-256's block size, in bytes (RFC 2104's B)


def derive_key(master: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the deployment secret (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


@dataclass(frozen=True, slots=True)
class Hashed:
    """Keyed hashes of identifiers, in order: under the newest key (what new rows are written
    with) and, when there is a key before it, under that one too (rows a rotation has not yet
    re-keyed). Lookups try both; ``previous`` is None with one key."""

    key_id: int
    digests: list[bytes]
    previous_key_id: int | None = None
    previous: list[bytes] | None = None

    def at(self, key_id: int) -> list[bytes]:
        """The hashes under ``key_id`` (the newest key or the one before it)."""
        if key_id == self.key_id:
            return self.digests
        if key_id == self.previous_key_id and self.previous is not None:
            return self.previous
        raise ValueError(f"no hashes under key {key_id}")


class IdentifierHasher:
    """HMAC-SHA256 of ``scheme:identifier`` under one key version, wrapped by newer keys.

    ``previous`` is the hasher of the key before (see the module docstring); with none, this
    is key 1's plain HMAC. Many hashes at once (``digests``) start from SHA-256 states that
    have already taken the key's inner and outer pads (RFC 2104), and the inner one ``scheme:``
    too: each identifier then costs two state copies and two short updates instead of a whole
    HMAC set-up, half the time. The result is HMAC-SHA256 itself, byte for byte.
    """

    __slots__ = ("_inner", "_key", "_outer", "key_id", "previous")
    key_id: int
    previous: IdentifierHasher | None

    def __init__(
        self, master: bytes, key_id: int, previous: IdentifierHasher | None = None
    ) -> None:
        if previous is not None and previous.key_id >= key_id:
            raise ValueError("a key wraps only older keys")
        self._key = derive_key(master, IDENTIFIER_PURPOSE)
        self.key_id = key_id
        self.previous = previous
        key = self._key if len(self._key) <= _BLOCK else hashlib.sha256(self._key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    @property
    def key_ids(self) -> list[int]:
        """The keys of the chain, oldest first."""
        ids = [] if self.previous is None else self.previous.key_ids
        return [*ids, self.key_id]

    def _mac(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digest(self, scheme: str, normalised: str) -> bytes:
        """The keyed hash of one normalised identifier (32 bytes).

        From the precomputed pads, like ``digests``: besides being faster, short updates of a
        hashlib object keep the GIL, where ``hmac.digest`` lets it go and must win it back —
        on a server whose other threads are busy, a wait of up to the switch interval (5 ms).
        """
        if self.previous is not None:
            return self._mac(self.previous.digest(scheme, normalised))
        return self._mac(f"{scheme}:{normalised}".encode())

    def digests(self, pairs: Iterable[tuple[str, str]]) -> list[bytes]:
        """Keyed hashes of many (scheme, normalised identifier) pairs, in order."""
        if self.previous is not None:
            mac = self._mac
            return [mac(d) for d in self.previous.digests(pairs)]
        prefixed: dict[str, Any] = {}
        outer_copy = self._outer.copy
        out: list[bytes] = []
        add = out.append
        for scheme, value in pairs:
            start = prefixed.get(scheme)
            if start is None:
                start = prefixed[scheme] = self._inner.copy()
                start.update(f"{scheme}:".encode())
            inner = start.copy()
            inner.update(value.encode())
            outer = outer_copy()
            outer.update(inner.digest())
            add(outer.digest())
        return out

    def hashed(self, pairs: Iterable[tuple[str, str]]) -> Hashed:
        """The hashes of ``pairs`` under this key and the one before it (no extra work: the
        newest wraps the one before)."""
        if self.previous is None:
            return Hashed(self.key_id, self.digests(pairs))
        below = self.previous.digests(pairs)
        mac = self._mac
        return Hashed(self.key_id, [mac(d) for d in below], self.previous.key_id, below)

    def rewrap(self, digest: bytes, key_id: int) -> bytes:
        """A hash under older key ``key_id`` brought up to this key: what a rotation does."""
        if key_id == self.key_id:
            return digest
        if self.previous is None or key_id > self.key_id:
            raise ValueError(f"key {key_id} is not below key {self.key_id}")
        return self._mac(self.previous.rewrap(digest, key_id))

    def upto(self, key_id: int) -> IdentifierHasher:
        """The chain ending at ``key_id`` (a key of this chain)."""
        hasher: IdentifierHasher | None = self
        while hasher is not None and hasher.key_id != key_id:
            hasher = hasher.previous
        if hasher is None:
            raise ValueError(f"key {key_id} is not in this secret")
        return hasher

    def __repr__(self) -> str:  # never show key material
        return f"IdentifierHasher(key_id={self.key_id})"

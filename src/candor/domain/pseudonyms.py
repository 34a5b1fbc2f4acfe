"""Keyed hashes of external identifiers: the only form in which candor keeps them.

A resident ID has little entropy (region, birth date, sequence number), so a plain hash would be
reversed by enumeration; HMAC-SHA256 under the deployment secret is not. Keys for different
purposes are derived from the one secret with HKDF, so the identifier key never signs anything.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

IDENTIFIER_PURPOSE = b"candor/identifier-hmac/v1"


def derive_key(master: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the deployment secret (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class IdentifierHasher:
    """HMAC-SHA256 of ``scheme:identifier`` under one key version."""

    __slots__ = ("_key", "key_id")

    def __init__(self, master: bytes, key_id: int) -> None:
        self._key = derive_key(master, IDENTIFIER_PURPOSE)
        self.key_id = key_id

    def digest(self, scheme: str, normalised: str) -> bytes:
        """The keyed hash of one normalised identifier (32 bytes)."""
        return hmac.digest(self._key, f"{scheme}:{normalised}".encode(), "sha256")

    def digests(self, pairs: Iterable[tuple[str, str]]) -> list[bytes]:
        """Keyed hashes of many (scheme, normalised identifier) pairs, in order."""
        key = self._key
        return [hmac.digest(key, f"{s}:{v}".encode(), "sha256") for s, v in pairs]

    def __repr__(self) -> str:  # never show key material
        return f"IdentifierHasher(key_id={self.key_id})"

"""Keyed hashes: the precomputed-pad path of ``digests`` is HMAC-SHA256 itself, byte for byte."""

from __future__ import annotations

import hashlib
import hmac
import random

from hypothesis import given
from hypothesis import strategies as st

from candor.domain.pseudonyms import IDENTIFIER_PURPOSE, IdentifierHasher, derive_key

MASTER = b"a test deployment secret, 32+ bytes long"


def _reference(scheme: str, value: str) -> bytes:
    key = derive_key(MASTER, IDENTIFIER_PURPOSE)
    return hmac.new(key, f"{scheme}:{value}".encode(), hashlib.sha256).digest()


def test_digests_are_hmac_sha256_in_order() -> None:
    rng = random.Random(7)
    pairs = [
        (rng.choice(["cn_resident_id", "cn_uscc", "other"]), str(rng.randrange(10**18)))
        for _ in range(500)
    ]
    pairs += [("other", "张三-Ünïcödé"), ("other", "é" * 300), ("other", ""), ("", "x")]
    hasher = IdentifierHasher(MASTER, 1)
    got = hasher.digests(iter(pairs))  # any iterable, consumed once
    assert got == [_reference(s, v) for s, v in pairs]
    assert got == [hasher.digest(s, v) for s, v in pairs]
    assert hasher.digests([]) == []


@given(st.lists(st.tuples(st.sampled_from(["cn_resident_id", "other"]), st.text(max_size=80))))
def test_digests_match_hmac_on_any_text(pairs: list[tuple[str, str]]) -> None:
    hasher = IdentifierHasher(MASTER, 1)
    assert hasher.digests(pairs) == [_reference(s, v) for s, v in pairs]


def test_digests_do_not_depend_on_earlier_calls() -> None:
    hasher = IdentifierHasher(MASTER, 1)
    first = hasher.digests([("other", "a"), ("other", "b")])
    assert hasher.digests([("other", "a"), ("other", "b")]) == first

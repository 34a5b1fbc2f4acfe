"""The ledger's Merkle tree (candor.domain.merkle): published RFC 6962/9162 vectors, the RFC's own
recursive definitions, pymerkle as an independent implementation, and properties of proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree, InvalidProof
from pymerkle import verify_consistency as pymerkle_verify_consistency

from candor.domain.merkle import (
    EMPTY_ROOT,
    Frontier,
    NodeRecord,
    Subtree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    peak_positions,
    root,
    subtree_from_nodes,
    verify_consistency,
    verify_inclusion,
)

# --- Published vectors
# From github.com/transparency-dev/merkle (Apache-2.0), copied byte for byte:
#   testonly/constants.go    LeafInputs, NodeHashes, RootHashes, CompactTrees (commit 582a6ad)
#   proof/verify_test.go     inclusionProofs, consistencyProofs and their corruptions (02194e9)
#   proof/proof_test.go      which nodes make up proofs in the 8-leaf tree (02a3e20)
#   rfc6962/rfc6962_test.go  the hasher's own vectors (78493b0)

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
NODE_HASHES = [  # [level][index]
    [
        bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        bytes.fromhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        bytes.fromhex("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        bytes.fromhex("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        bytes.fromhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        bytes.fromhex("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        bytes.fromhex("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        bytes.fromhex("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        bytes.fromhex("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        bytes.fromhex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        bytes.fromhex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
ROOTS = [  # by tree size, 0 to 8
    bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    bytes.fromhex("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    bytes.fromhex("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    bytes.fromhex("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    bytes.fromhex("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]


def n(level: int, index: int) -> bytes:
    """A node of the vectors' 8-leaf tree, named as transparency-dev names it."""
    return NODE_HASHES[level][index]


COMPACT_TREES = [  # the peaks of each tree size, 0 to 8
    [],
    [n(0, 0)],
    [n(1, 0)],
    [n(1, 0), n(0, 2)],
    [n(2, 0)],
    [n(2, 0), n(0, 4)],
    [n(2, 0), n(1, 2)],
    [n(2, 0), n(1, 2), n(0, 6)],
    [n(3, 0)],
]
# verify_test.go numbers leaves from 1: (leaf, size, proof).
INCLUSION_VECTORS = [
    (1, 1, []),
    (1, 8, [n(0, 1), n(1, 1), n(2, 1)]),
    (6, 8, [n(0, 4), n(1, 3), n(2, 0)]),
    (3, 3, [n(1, 0)]),
    (2, 5, [n(0, 0), n(1, 1), n(0, 4)]),
]
CONSISTENCY_VECTORS = [  # (size1, size2, proof)
    (1, 1, []),
    (1, 8, [n(0, 1), n(1, 1), n(2, 1)]),
    (6, 8, [n(1, 2), n(1, 3), n(2, 0)]),
    (2, 5, [n(1, 1), n(0, 4)]),
    (6, 7, [n(1, 2), n(0, 6), n(2, 0)]),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
L7 = node_hash(n(1, 2), n(0, 6))  # proof_test.go's "l=hash(i,j)", the ragged right of size 7

# --- The RFC's definitions, written plainly (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1)


def _k(size: int) -> int:
    k = 1
    while k * 2 < size:
        k *= 2
    return k


def ref_mth(entries: Sequence[bytes]) -> bytes:
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _k(len(entries))
    return hashlib.sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:])).digest()


def ref_path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    if len(entries) == 1:
        return []
    k = _k(len(entries))
    if m < k:
        return [*ref_path(m, entries[:k]), ref_mth(entries[k:])]
    return [*ref_path(m - k, entries[k:]), ref_mth(entries[:k])]


def ref_subproof(m: int, entries: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(entries):
        return [] if b else [ref_mth(entries)]
    k = _k(len(entries))
    if m <= k:
        return [*ref_subproof(m, entries[:k], b), ref_mth(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), ref_mth(entries[:k])]


def ref_sides(m: int, size: int) -> list[bool]:
    """Where each sibling of PATH(m, D[size]) sits, leaf upwards: True when on the left."""
    if size == 1:
        return []
    k = _k(size)
    return [*ref_sides(m, k), False] if m < k else [*ref_sides(m - k, size - k), True]


# --- A tree to draw from: entries, the nodes a Frontier emitted, and every root

ENTRIES = [f"ledger entry {i}".encode() for i in range(1100)]


def _build(entries: Sequence[bytes]) -> tuple[dict[tuple[int, int], bytes], list[bytes]]:
    frontier, nodes, roots = Frontier(), {}, [EMPTY_ROOT]
    for entry in entries:
        for level, index, digest in frontier.append(leaf_hash(entry)):
            nodes[level, index] = digest
        roots.append(frontier.root())
    return nodes, roots


NODES, ROOTS_BY_SIZE = _build(ENTRIES)
SUBTREE = subtree_from_nodes(lambda level, index: NODES[level, index])


def _flip(digest: bytes, at: int) -> bytes:
    return digest[:at] + bytes([digest[at] ^ 0x10]) + digest[at + 1 :]


# --- Vectors


def test_the_hasher_matches_rfc6962_test_go() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_the_frontier_emits_the_published_nodes_roots_and_compact_ranges() -> None:
    frontier, emitted = Frontier(), []
    assert (frontier.root(), frontier.peaks) == (ROOTS[0], ())
    for size, entry in enumerate(LEAF_INPUTS, start=1):
        emitted += frontier.append(leaf_hash(entry))
        assert frontier.size == size
        assert frontier.root() == ROOTS[size]
        assert list(frontier.peaks) == COMPACT_TREES[size]
    published = {(lv, i): h for lv, row in enumerate(NODE_HASHES) for i, h in enumerate(row)}
    assert {(lv, i): h for lv, i, h in emitted} == published
    assert len(emitted) == len(published)  # each node once


def _vector_tree() -> Subtree:
    return subtree_from_nodes(lambda level, index: NODE_HASHES[level][index])


def test_roots_of_every_size_from_the_published_nodes() -> None:
    assert [root(size, _vector_tree()) for size in range(9)] == ROOTS
    assert [ref_mth(LEAF_INPUTS[:size]) for size in range(9)] == ROOTS


def _inclusion_corruptions(
    index: int, size: int, proof: list[bytes], root_: bytes, leaf: bytes
) -> list[tuple[Any, ...]]:
    """verify_test.go's corruptInclusionProof: (leaf, index, size, proof, root), all invalid."""
    probes: list[tuple[Any, ...]] = [
        (leaf, index - 1, size, proof, root_),
        (leaf, index + 1, size, proof, root_),
        (leaf, index ^ 2, size, proof, root_),
        (leaf, index, size * 2, proof, root_),
        (leaf, index, size // 2, proof, root_),
        (b"WrongLeaf", index, size, proof, root_),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, b""], root_),
        (leaf, index, size, [*proof, root_], root_),
        (leaf, index, size, [b"", *proof], root_),
        (leaf, index, size, [root_, *proof], root_),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((leaf, index, size, wrong, root_))
    if proof:
        probes.append((leaf, index, size, proof[:-1], root_))
    if len(proof) > 1:
        probes.append((leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root_))
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(leaf: int, size: int, proof: list[bytes]) -> None:
    index, hashed = leaf - 1, leaf_hash(LEAF_INPUTS[leaf - 1])
    assert inclusion_proof(index, size, _vector_tree()) == proof
    assert verify_inclusion(hashed, index, size, proof, ROOTS[size])
    for probe in _inclusion_corruptions(index, size, proof, ROOTS[size], hashed):
        assert not verify_inclusion(*probe), probe


def _consistency_corruptions(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[Any, ...]]:
    """verify_test.go's corruptConsistencyProof: (size1, size2, root1, root2, proof), invalid."""
    probes: list[tuple[Any, ...]] = [
        (size1 - 1, size2, root1, root2, proof),
        (size1 + 1, size2, root1, root2, proof),
        (size1 ^ 2, size2, root1, root2, proof),
        (size1, size2 * 2, root1, root2, proof),
        (size1, size2 // 2, root1, root2, proof),
        (size1, size2, b"WrongRoot", root2, proof),
        (size1, size2, root1, b"WrongRoot", proof),
        (size1, size2, root2, root1, proof),
        (size1, size2, root1, root2, []),
        (size1, size2, root1, root2, [*proof, b""]),
        (size1, size2, root1, root2, [*proof, root1]),
        (size1, size2, root1, root2, [*proof, root2]),
        (size1, size2, root1, root2, [b"", *proof]),
        (size1, size2, root1, root2, [root1, *proof]),
        (size1, size2, root1, root2, [root2, *proof]),
        (size1, size2, root1, root2, [proof[0], *proof]),
        (size1, size2, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((size1, size2, root1, root2, wrong))
    return probes


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(size1: int, size2: int, proof: list[bytes]) -> None:
    assert consistency_proof(size1, size2, _vector_tree()) == proof
    assert verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], proof)
    if proof:  # as verify_test.go: corrupt only proofs that prove something
        for probe in _consistency_corruptions(size1, size2, ROOTS[size1], ROOTS[size2], proof):
            assert not verify_consistency(*probe), probe


@pytest.mark.parametrize(
    ("index", "size", "expected"),
    [  # proof_test.go TestInclusion, within the 8-leaf tree
        (0, 1, []),
        (0, 2, [n(0, 1)]),
        (1, 2, [n(0, 0)]),
        (1, 3, [n(0, 0), n(0, 2)]),
        (0, 7, [n(0, 1), n(1, 1), L7]),
        (1, 7, [n(0, 0), n(1, 1), L7]),
        (2, 7, [n(0, 3), n(1, 0), L7]),
        (3, 7, [n(0, 2), n(1, 0), L7]),
        (4, 7, [n(0, 5), n(0, 6), n(2, 0)]),
        (5, 7, [n(0, 4), n(0, 6), n(2, 0)]),
        (6, 7, [n(1, 2), n(2, 0)]),
        (2, 4, [n(0, 3), n(1, 0)]),
        (3, 5, [n(0, 2), n(1, 0), n(0, 4)]),
        (3, 6, [n(0, 2), n(1, 0), n(1, 2)]),
        (4, 6, [n(0, 5), n(2, 0)]),
    ],
)
def test_inclusion_proofs_take_the_published_nodes(
    index: int, size: int, expected: list[bytes]
) -> None:
    assert inclusion_proof(index, size, _vector_tree()) == expected


@pytest.mark.parametrize(
    ("size1", "size2", "expected"),
    [  # proof_test.go TestConsistency, within the 8-leaf tree
        (1, 2, [n(0, 1)]),
        (1, 4, [n(0, 1), n(1, 1)]),
        (1, 6, [n(0, 1), n(1, 1), n(1, 2)]),
        (2, 3, [n(0, 2)]),
        (2, 8, [n(1, 1), n(2, 1)]),
        (3, 7, [n(0, 2), n(0, 3), n(1, 0), L7]),
        (4, 7, [L7]),
        (5, 7, [n(0, 4), n(0, 5), n(0, 6), n(2, 0)]),
        (6, 7, [n(1, 2), n(0, 6), n(2, 0)]),
        (7, 8, [n(0, 6), n(0, 7), n(1, 2), n(2, 0)]),
        (2, 4, [n(1, 1)]),
        (3, 5, [n(0, 2), n(0, 3), n(1, 0), n(0, 4)]),
        (3, 6, [n(0, 2), n(0, 3), n(1, 0), n(1, 2)]),
        (4, 6, [n(1, 2)]),
        (1, 7, [n(0, 1), n(1, 1), L7]),
        *((size, size, []) for size in (1, 2, 3, 4, 5, 7, 8)),
    ],
)
def test_consistency_proofs_take_the_published_nodes(
    size1: int, size2: int, expected: list[bytes]
) -> None:
    assert consistency_proof(size1, size2, _vector_tree()) == expected


def test_a_single_entry_tree_verifies_only_its_own_hash() -> None:
    # verify_test.go TestVerifyInclusionSingleEntry
    hashed = leaf_hash(b"data")
    assert verify_inclusion(hashed, 0, 1, [], hashed)
    assert not verify_inclusion(b"", 0, 1, [], hashed)
    assert not verify_inclusion(hashed, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], b"")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_in_an_impossible_position_fails(index: int, size: int) -> None:
    # verify_test.go TestVerifyInclusion
    assert not verify_inclusion(SOME_HASH, index, size, [], b"")
    assert not verify_inclusion(b"", index, size, [], EMPTY_ROOT)
    assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


A, B = leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2")


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "valid"),
    [  # verify_test.go TestVerifyConsistency, with 32-byte stand-ins for its short roots
        (1, 1, A, B, [], False),
        (1, 1, B, B, [], True),
        (1, 0, A, B, [], False),
        (2, 1, A, B, [], False),
        (1, 2, A, B, [], False),
        (1, 1, EMPTY_ROOT, B, [], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 0, EMPTY_ROOT, B, [], False),
        # The empty tree is consistent with every tree. Unlike transparency-dev, which ignores
        # root1 when size1 is 0, candor also requires the empty tree's root to be SHA-256("").
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (0, 1, EMPTY_ROOT, B, [], True),
        (0, 1, A, B, [], False),
        (0, 0, A, A, [], False),
    ],
)
def test_consistency_edge_cases(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], valid: bool
) -> None:
    assert verify_consistency(size1, size2, root1, root2, proof) is valid


# --- Against the RFC's recursive definitions


def test_every_proof_up_to_64_leaves_is_the_rfcs() -> None:
    for size in range(1, 65):
        entries = ENTRIES[:size]
        assert root(size, SUBTREE) == ref_mth(entries) == ROOTS_BY_SIZE[size]
        for index in range(size):
            assert inclusion_proof(index, size, SUBTREE) == ref_path(index, entries)
        for old in range(1, size):
            assert consistency_proof(old, size, SUBTREE) == ref_subproof(old, entries, True)
        assert consistency_proof(size, size, SUBTREE) == consistency_proof(0, size, SUBTREE) == []


# --- Against pymerkle, an independent implementation


@cache
def _pymerkle_tree() -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")  # security on by default: RFC 9162 prefixes
    tree.append_entries(ENTRIES)
    return tree


def test_pymerkle_hashes_as_rfc_9162() -> None:
    tree = _pymerkle_tree()
    assert (tree.algorithm, tree.security) == ("sha256", True)
    assert (tree.leaf_prefix, tree.node_prefix) == (b"\x00", b"\x01")  # and nothing else
    assert tree.hash_buff(b"x") == leaf_hash(b"x")
    assert tree.hash_pair(SOME_HASH, EMPTY_ROOT) == node_hash(SOME_HASH, EMPTY_ROOT)
    assert tree.get_root(0) == EMPTY_ROOT


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_roots_and_inclusion_proofs_match_pymerkle(data: st.DataObject) -> None:
    tree = _pymerkle_tree()
    size = data.draw(st.integers(1, len(ENTRIES)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    assert tree.get_root(size) == root(size, SUBTREE) == ROOTS_BY_SIZE[size]
    theirs = tree.prove_inclusion(index + 1, size)  # pymerkle numbers leaves from 1
    # pymerkle's path is the leaf hash followed by RFC 9162's PATH, leaf upwards.
    assert theirs.path == [leaf_hash(ENTRIES[index]), *inclusion_proof(index, size, SUBTREE)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_consistency_agrees_with_pymerkle(data: st.DataObject) -> None:
    # pymerkle lays its consistency path out its own way (it always carries the old tree's last
    # subtree, down to a single leaf), so its proofs are checked for agreeing on the roots, and
    # candor's proofs against the RFC's SUBPROOF written out above.
    tree = _pymerkle_tree()
    size = data.draw(st.integers(1, len(ENTRIES)), label="size")
    old = data.draw(st.integers(1, size), label="old")
    old_root, new_root = root(old, SUBTREE), root(size, SUBTREE)
    pymerkle_verify_consistency(old_root, new_root, tree.prove_consistency(old, size), old, size)
    with pytest.raises(InvalidProof):
        pymerkle_verify_consistency(SOME_HASH, new_root, tree.prove_consistency(old, size))
    ours = consistency_proof(old, size, SUBTREE)
    assert ours == (ref_subproof(old, ENTRIES[:size], True) if old < size else [])
    assert verify_consistency(old, size, old_root, new_root, ours)


# --- Properties

SIZES = st.integers(1, len(ENTRIES))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_inclusion_proof_verifies_and_no_alteration_does(data: st.DataObject) -> None:
    size = data.draw(SIZES, label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, head = leaf_hash(ENTRIES[index]), ROOTS_BY_SIZE[size]
    proof = inclusion_proof(index, size, SUBTREE)
    assert verify_inclusion(leaf, index, size, proof, head)

    at = data.draw(st.integers(0, 31), label="byte")
    assert not verify_inclusion(_flip(leaf, at), index, size, proof, head)
    assert not verify_inclusion(leaf, index, size, proof, _flip(head, at))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        altered = [*proof[:i], _flip(proof[i], at), *proof[i + 1 :]]
        assert not verify_inclusion(leaf, index, size, altered, head)
        assert not verify_inclusion(leaf, index, size, proof[:i] + proof[i + 1 :], head)
    assert not verify_inclusion(leaf, index, size, [*proof, SOME_HASH], head)
    assert not verify_inclusion(leaf, index - 1, size, proof, head)
    assert not verify_inclusion(leaf, index + 1, size, proof, head)
    for other in (size - 1, size + 1):
        if 0 < other <= len(ENTRIES):  # a neighbouring tree head never accepts this proof
            assert not verify_inclusion(leaf, index, other, proof, ROOTS_BY_SIZE[other])
        # A proof does not bind the tree size by itself: the signed tree head binds size to
        # root. Against this root, a neighbouring size passes only where the leaf's path has
        # the same shape, so the same hashes combine in the same order.
        same_shape = 0 <= index < other and ref_sides(index, other) == ref_sides(index, size)
        assert verify_inclusion(leaf, index, other, proof, head) is same_shape


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_consistency_proof_verifies_and_no_alteration_does(data: st.DataObject) -> None:
    size = data.draw(SIZES, label="size")
    old = data.draw(st.integers(0, size), label="old")
    old_root, new_root = ROOTS_BY_SIZE[old], ROOTS_BY_SIZE[size]
    proof = consistency_proof(old, size, SUBTREE)
    assert verify_consistency(old, size, old_root, new_root, proof)

    at = data.draw(st.integers(0, 31), label="byte")
    assert not verify_consistency(old, size, _flip(old_root, at), new_root, proof)
    if old:  # anything extends the empty tree, so only a non-empty old tree pins the new root
        assert not verify_consistency(old, size, old_root, _flip(new_root, at), proof)
        for other in (size - 1, size + 1):
            if other <= len(ENTRIES):
                other_root = ROOTS_BY_SIZE[other]
                assert not verify_consistency(old, other, old_root, other_root, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        altered = [*proof[:i], _flip(proof[i], at), *proof[i + 1 :]]
        assert not verify_consistency(old, size, old_root, new_root, altered)
        assert not verify_consistency(old, size, old_root, new_root, proof[:i] + proof[i + 1 :])
    assert not verify_consistency(old, size, old_root, new_root, [*proof, SOME_HASH])
    assert not verify_consistency(old, size, old_root, new_root, [SOME_HASH, *proof])
    assert not verify_consistency(old - 1, size, old_root, new_root, proof)
    assert not verify_consistency(old + 1, size, old_root, new_root, proof)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=300), st.data())
def test_the_frontier_root_is_the_rfcs_root(entries: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(e) for e in entries]
    one_by_one, batched = Frontier(), Frontier()
    emitted: list[NodeRecord] = []
    for h in hashes:
        emitted += one_by_one.append(h)
    cut = data.draw(st.integers(0, len(hashes)), label="cut")
    batch_emitted = batched.append_many(hashes[:cut]) + batched.append_many(iter(hashes[cut:]))
    assert one_by_one.root() == batched.root() == ref_mth(entries)
    assert emitted == batch_emitted
    assert one_by_one.size == len(entries)
    assert len(emitted) == 2 * len(entries) - len(one_by_one.peaks)  # leaves plus interior nodes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=200), st.data())
def test_emitted_nodes_reproduce_the_rfcs_proofs(entries: list[bytes], data: st.DataObject) -> None:
    nodes: dict[tuple[int, int], bytes] = {}
    looked_up: list[tuple[int, int]] = []

    def lookup(level: int, index: int) -> bytes:
        looked_up.append((level, index))
        return nodes[level, index]

    for level, index, digest in Frontier().append_many([leaf_hash(e) for e in entries]):
        assert (level, index) not in nodes  # a node is complete once, then never changes
        nodes[level, index] = digest
    subtree = subtree_from_nodes(lookup)
    size = data.draw(st.integers(1, len(entries)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old")
    assert root(size, subtree) == ref_mth(entries[:size])
    looked_up.clear()
    assert inclusion_proof(index, size, subtree) == ref_path(index, entries[:size])
    assert len(looked_up) <= 2 * size.bit_length()  # O(log n), never a walk over the leaves
    expected = ref_subproof(old, entries[:size], True) if old < size else []
    assert consistency_proof(old, size, subtree) == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 600), st.integers(0, 200))
def test_a_restored_frontier_continues_as_if_never_stopped(stop: int, more: int) -> None:
    hashes = [leaf_hash(e) for e in ENTRIES[: stop + more]]
    restored = Frontier.restore(stop, lambda level, index: NODES[level, index])
    assert list(restored.peaks) == [NODES[position] for position in peak_positions(stop)]
    assert restored.size == stop and restored.root() == ROOTS_BY_SIZE[stop]
    for level, index, digest in restored.append_many(hashes[stop:]):
        assert NODES[level, index] == digest
    assert restored.root() == ROOTS_BY_SIZE[stop + more]


def test_peak_positions_name_the_published_compact_ranges() -> None:
    for size, peaks in enumerate(COMPACT_TREES):
        assert [n(level, index) for level, index in peak_positions(size)] == peaks
        assert Frontier(size, peaks).root() == ROOTS[size]
    assert peak_positions(13) == [(3, 0), (2, 2), (0, 12)]


# --- Refusals


def test_proofs_of_what_does_not_exist_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(5, 5, SUBTREE)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(-1, 5, SUBTREE)
    with pytest.raises(ValueError, match="larger"):
        consistency_proof(6, 5, SUBTREE)
    with pytest.raises(ValueError, match="negative"):
        consistency_proof(-1, 5, SUBTREE)
    with pytest.raises(ValueError, match="negative"):
        root(-1, SUBTREE)
    with pytest.raises(ValueError, match="range"):
        SUBTREE(5, 3)


def test_the_frontier_refuses_malformed_hashes_and_keeps_its_state() -> None:
    frontier = Frontier()
    frontier.append_many([leaf_hash(b"a"), leaf_hash(b"b")])
    before = (frontier.size, frontier.peaks)
    with pytest.raises(ValueError, match="32-byte"):
        frontier.append_many([leaf_hash(b"c"), b"short"])
    with pytest.raises(ValueError, match="32-byte"):
        frontier.append(b"x" * 33)
    assert (frontier.size, frontier.peaks) == before
    with pytest.raises(ValueError, match="peaks"):
        Frontier(3, [SOME_HASH])
    with pytest.raises(ValueError, match="32-byte"):
        Frontier(1, [b"short"])


NOT_A_HASH = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=3),
    st.binary(max_size=31),
    st.binary(min_size=33, max_size=40),
    st.lists(st.binary(min_size=32, max_size=32), max_size=2),
)
NOT_A_COUNT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(max_value=-1),
    st.floats(),
    st.text(max_size=3),
    st.binary(max_size=3),
)
NOT_A_PROOF = st.one_of(
    st.none(),
    st.integers(),
    st.binary(max_size=64),
    st.text(max_size=3),
    st.lists(NOT_A_HASH, min_size=1, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4), st.data())
def test_a_valid_inclusion_with_one_malformed_argument_fails(
    spoilt: int, data: st.DataObject
) -> None:
    index, size = 2, 5
    args: list[Any] = [
        leaf_hash(ENTRIES[index]),
        index,
        size,
        inclusion_proof(index, size, SUBTREE),
        ROOTS_BY_SIZE[size],
    ]
    assert verify_inclusion(*args)
    junk = (NOT_A_HASH, NOT_A_COUNT, NOT_A_COUNT, NOT_A_PROOF, NOT_A_HASH)[spoilt]
    args[spoilt] = data.draw(junk, label="junk")
    assert verify_inclusion(*args) is False


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4), st.data())
def test_a_valid_consistency_with_one_malformed_argument_fails(
    spoilt: int, data: st.DataObject
) -> None:
    old, size = 3, 7
    args: list[Any] = [
        old,
        size,
        ROOTS_BY_SIZE[old],
        ROOTS_BY_SIZE[size],
        consistency_proof(old, size, SUBTREE),
    ]
    assert verify_consistency(*args)
    junk = (NOT_A_COUNT, NOT_A_COUNT, NOT_A_HASH, NOT_A_HASH, NOT_A_PROOF)[spoilt]
    args[spoilt] = data.draw(junk, label="junk")
    assert verify_consistency(*args) is False


ANYTHING = st.one_of(NOT_A_HASH, NOT_A_COUNT, NOT_A_PROOF, st.integers(0, 9), st.just(EMPTY_ROOT))


@settings(max_examples=300, deadline=None)
@given(ANYTHING, ANYTHING, ANYTHING, ANYTHING, ANYTHING)
def test_verifiers_never_raise(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
    assert isinstance(verify_inclusion(a, b, c, d, e), bool)
    assert isinstance(verify_consistency(a, b, c, d, e), bool)

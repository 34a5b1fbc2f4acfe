"""The ledger's Merkle tree: RFC 9162 (Certificate Transparency v2) hashing, proofs and appends.

The ledger is an append-only log of every state change. Its Merkle tree head commits to every
entry in order; an *inclusion proof* shows that one entry is in the tree a head commits to, and a
*consistency proof* shows that a later head extends an earlier one without rewriting it. Anyone
holding the published heads can check both with :func:`verify_inclusion` and
:func:`verify_consistency` alone, so trust in candor's operator is not needed.

Hashing is RFC 9162 §2.1 byte for byte, so any RFC 6962/9162 verifier (the transparency-dev Go
code, a browser, an auditor's script) checks candor's proofs unchanged:

- a leaf hashes as ``SHA-256(0x00 ‖ data)`` and a node as ``SHA-256(0x01 ‖ left ‖ right)``; the
  distinct prefixes stop an interior node from passing for a leaf (a second preimage);
- the tree of n leaves splits at the largest power of two k < n (MTH), so every left subtree is
  complete and only the right edge is ragged; the empty tree's root is ``SHA-256("")``.

A log of 10 million entries does not fit in memory, so proofs never take the leaves. They take a
``subtree(start, end)`` callback that answers the hash of leaves [start, end); the proof
algorithms ask only for complete aligned subtrees plus at most one ragged right-edge range, which
:func:`subtree_from_nodes` assembles from stored nodes in O(log n) look-ups. A node is named
``(level, index)``: level 0 holds the leaf hashes and node (level, i) covers leaves
[i·2^level, (i+1)·2^level). Once complete, a node never changes, which is what lets a store keep
it forever; :class:`Frontier` emits each one as an append completes it.

Proof generation raises ``ValueError`` on impossible arguments (the caller asked for something that
does not exist); the verifiers never raise and return ``False`` on anything malformed, because
their input comes from whoever hands over a proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "Nodes",
    "Subtree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "parents",
    "peak_positions",
    "root",
    "row_root",
    "subtree_from_nodes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the root of the tree with no leaves (RFC 9162 §2.1.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256
_LEAF_SEEDED = _sha256(_LEAF_PREFIX).copy
_NODE_SEEDED = _sha256(_NODE_PREFIX).copy

Subtree = Callable[[int, int], bytes]
"""``subtree(start, end)``: MTH of leaves [start, end) — how proofs read a tree they cannot hold."""

Nodes = Callable[[int, int], bytes]
"""``nodes(level, index)``: the stored hash of the complete aligned subtree (level, index)."""

NodeRecord = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete node, as :class:`Frontier` hands it to the store."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 ‖ d): the hash of one log entry."""
    h = _LEAF_SEEDED()  # SHA-256 already fed the prefix: cheaper than concatenating it
    h.update(data)
    return h.digest()


def leaf_hashes(datas: Iterable[bytes]) -> list[bytes]:
    """:func:`leaf_hash` of each entry, in order, without a call of ours per entry (a rebuild
    of the whole tree hashes ten million)."""
    sha256, prefix = _sha256, _LEAF_PREFIX
    return [sha256(prefix + data).digest() for data in datas]


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def row_root(row: bytes) -> bytes:
    """The root of a complete subtree from its 2^k nodes at one level, their hashes concatenated
    left to right (as a store's tiles hold them): k rounds of :func:`node_hash` over pairs."""
    width = len(row) // HASH_SIZE
    if width == 0 or width & (width - 1) or len(row) % HASH_SIZE:
        raise ValueError(f"a row of {len(row)} bytes is not 2^k {HASH_SIZE}-byte hashes")
    seeded, pair = _NODE_SEEDED, 2 * HASH_SIZE
    while len(row) > HASH_SIZE:
        parents = []
        for i in range(0, len(row), pair):
            h = seeded()  # SHA-256 already fed the node prefix: cheaper than concatenating it
            h.update(row[i : i + pair])
            parents.append(h.digest())
        row = b"".join(parents)
    return row


def parents(row: Sequence[bytes]) -> list[bytes]:
    """The parents of consecutive pairs of sibling hashes, left to right: ``node_hash(row[0],
    row[1])``, ``node_hash(row[2], row[3])``, …; an odd last hash has none.

    The pairs are read from the row's hashes joined into one buffer (they are all
    ``HASH_SIZE`` bytes: every caller checked them or made them), one slice a parent: half the
    cost of a loop over :func:`node_hash`, which is what rebuilding a whole tree comes down to.
    """
    pair = 2 * HASH_SIZE
    joined = b"".join(row[: len(row) // 2 * 2])
    sha256, prefix = _sha256, _NODE_PREFIX
    return [sha256(prefix + joined[at : at + pair]).digest() for at in range(0, len(joined), pair)]


def _set_bits(n: int) -> list[int]:
    """The positions of the set bits of ``n``, highest first: the levels of its tree's peaks."""
    return [bit for bit in range(n.bit_length() - 1, -1, -1) if n >> bit & 1]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2): where RFC 9162's MTH cuts the tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def root(size: int, subtree: Subtree) -> bytes:
    """The tree head hash MTH(D[0:size]) of the log's first ``size`` entries."""
    _check_size("size", size)
    return subtree(0, size) if size else EMPTY_ROOT


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1): the sibling hashes from the leaf up to the root.

    Walks down from the root, keeping the sibling of the half that holds the leaf; every sibling
    on the way is a complete subtree except, at most, the first right-hand one.
    """
    _check_size("size", size)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            path.append(subtree(middle, end))
            end = middle
        else:
            path.append(subtree(start, middle))
            start = middle
    path.reverse()  # RFC order: the leaf's sibling first
    return path


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1).

    Empty when there is nothing to prove: the old tree is empty or is the new tree. The walk
    descends towards the old tree's last leaf until a subtree holds old leaves only; that subtree
    is left out when it starts at leaf 0, being the old tree itself, whose root the verifier holds.
    """
    _check_size("old_size", old_size)
    if not old_size <= new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    start, end, m = 0, new_size, old_size  # SUBPROOF(m, D[start:end], on_left_edge)
    on_left_edge = True
    while m != end - start:
        middle = start + _split(end - start)
        if m <= middle - start:
            path.append(subtree(middle, end))
            end = middle
        else:
            path.append(subtree(start, middle))
            m -= middle - start
            start = middle
            on_left_edge = False
    if not on_left_edge:
        path.append(subtree(start, end))
    path.reverse()
    return path


def subtree_from_nodes(nodes: Nodes) -> Subtree:
    """A ``subtree`` callback that reads complete aligned nodes and hashes the rest.

    A complete aligned range is one look-up; any other range is cut as MTH cuts it and its parts
    are read in turn. The ranges the proofs ask for — complete subtrees, and ragged ranges that
    start on a boundary of their own width and run to the tree's edge — cost at most one look-up
    per set bit of their width, so O(log n), O(log² n) for a caller that asks for many of them.
    """

    def subtree(start: int, end: int) -> bytes:
        width = end - start
        if width == 0:
            return EMPTY_ROOT
        if width < 0 or start < 0:
            raise ValueError(f"no such leaf range [{start}, {end})")
        if width & (width - 1) == 0 and start % width == 0:
            return nodes(width.bit_length() - 1, start // width)
        middle = start + _split(width)
        return node_hash(subtree(start, middle), subtree(middle, end))

    return subtree


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _all_hashes(values: Sequence[object]) -> bool:
    """Whether every value is a hash; at C speed in the usual case of plain ``bytes``."""
    if set(map(type, values)) <= {bytes}:
        return set(map(len, values)) <= {HASH_SIZE}  # type: ignore[arg-type]
    return all(_is_hash(v) for v in values)


def _checked(leaf_hashes: Iterable[bytes]) -> Sequence[bytes]:
    batch = leaf_hashes if isinstance(leaf_hashes, list | tuple) else list(leaf_hashes)
    if not _all_hashes(batch):
        raise ValueError(f"leaf hashes must be {HASH_SIZE}-byte hashes")
    return batch


def _hashes(proof: object) -> list[bytes] | None:
    """The proof as a list of well-formed hashes, or None when it is not one."""
    if not isinstance(proof, list | tuple):
        return None
    hashes = list(proof)
    return hashes if all(_is_hash(h) for h in hashes) else None


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf ``index`` with hash ``leaf_hash`` in the tree of ``size``
    leaves whose root is ``root`` (RFC 9162 §2.1.3.2). False on any malformed input."""
    path = _hashes(proof)
    if path is None or not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not (_is_count(index) and _is_count(size) and index < size):
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            return False  # more hashes than the tree has levels
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # skip the levels where the right edge has no sibling
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree (``new_size``, ``new_root``) extends the tree
    (``old_size``, ``old_root``) (RFC 9162 §2.1.4.2). False on any malformed input.

    Beyond the RFC, which covers 0 < old_size < new_size: equal sizes prove consistency only with
    equal roots and an empty proof, and the empty tree only with its own root, SHA-256("").
    """
    path = _hashes(proof)
    if path is None or not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not (_is_count(old_size) and _is_count(new_size) and old_size <= new_size):
        return False
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not path and old_root == new_root
    return _verify_consistency_path(old_size, new_size, old_root, new_root, path)


def _verify_consistency_path(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 itself, for 0 < old_size < new_size: rebuild both roots from the path."""
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]  # the old tree is a complete subtree: its root starts both chains
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def peak_positions(size: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` of the complete subtrees that make up a tree of ``size`` leaves,
    largest (leftmost) first: one per set bit of ``size``, what :class:`Frontier` keeps."""
    _check_size("size", size)
    positions = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


class Frontier:
    """The right edge of the log: the peaks of its complete subtrees, enough to append and to
    compute the root without reading anything else.

    A tree of n leaves is the concatenation of one complete subtree per set bit of n (a "Merkle
    mountain range", a compact range in transparency-dev's terms). Appending a leaf is binary
    increment: it merges the equal-sized peaks at the right, one node hash per carry, so appends
    cost one hash amortised and O(log n) memory in all. Each append returns the nodes it completed
    so a store can persist them for :func:`subtree_from_nodes`.
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        """A frontier for a tree of ``size`` leaves with the given peak hashes, leftmost first."""
        _check_size("size", size)
        if len(peaks) != size.bit_count():
            raise ValueError(
                f"a tree of {size} leaves has {size.bit_count()} peaks, not {len(peaks)}"
            )
        if not all(_is_hash(p) for p in peaks):
            raise ValueError(f"peaks must be {HASH_SIZE}-byte hashes")
        self._size = size
        self._peaks = list(peaks)

    @classmethod
    def restore(cls, size: int, nodes: Nodes) -> Frontier:
        """The frontier of a stored tree of ``size`` leaves, read from its O(log n) peak nodes."""
        return cls(size, [nodes(level, index) for level, index in peak_positions(size)])

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def peaks(self) -> tuple[bytes, ...]:
        """The peak hashes, leftmost (largest) first, at :func:`peak_positions` of ``size``."""
        return tuple(self._peaks)

    def root(self) -> bytes:
        """MTH of all leaves so far: the peaks folded from the right, as MTH's splits nest."""
        peaks = self._peaks
        if not peaks:
            return EMPTY_ROOT
        r = peaks[-1]
        for peak in reversed(peaks[:-1]):
            r = node_hash(peak, r)
        return r

    def append(self, leaf_hash: bytes) -> list[NodeRecord]:
        """Append one leaf hash; return the nodes it completed, the leaf itself first."""
        return self.append_many((leaf_hash,))

    def append_many(self, leaf_hashes: Iterable[bytes]) -> list[NodeRecord]:
        """Append leaf hashes in order; return every node they completed, in completion order.

        All hashes are checked before any is appended, so a bad batch leaves the frontier as it
        was. The loop is written for CPython's speed: locals only, one SHA-256 per new node.
        """
        batch = _checked(leaf_hashes)
        sha256, prefix = _sha256, _NODE_PREFIX
        peaks = self._peaks
        pop, push = peaks.pop, peaks.append
        completed: list[NodeRecord] = []
        emit = completed.append
        size = self._size
        for leaf in batch:
            emit((0, size, leaf))
            node, index, level = leaf, size, 0
            while index & 1:  # each carry merges the rightmost peak with the new node
                node = sha256(prefix + pop() + node).digest()
                index >>= 1
                level += 1
                emit((level, index, node))
            push(node)
            size += 1
        self._size = size
        return completed

    def append_levels(self, leaf_hashes: Iterable[bytes], every: int) -> dict[int, list[bytes]]:
        """Append leaf hashes in order, as :meth:`append_many` does; return the nodes they
        completed at each level that is a multiple of ``every`` (a power of two), by level, left
        to right — level 0's being the leaf hashes themselves.

        At level L the completed nodes are those at indexes [old size >> L, new size >> L), so
        their hashes alone name them: what a store that keeps only some levels (tiles) needs,
        without a tuple per node.

        The tree is built a level at a time (:func:`parents` over each level's new nodes, the
        old peak at that level first when it waits for a right sibling), not a leaf at a time:
        the same nodes, with no Python loop per node — what lets ``ledger verify`` rebuild a
        tree of ten million leaves in seconds.
        """
        if every < 1 or every & (every - 1):
            raise ValueError(f"every must be a power of two, got {every}")
        batch = _checked(leaf_hashes)
        old, new = self._size, self._size + len(batch)
        # The old peaks by level: one per set bit of the old size, the highest level leftmost.
        waiting = dict(zip(_set_bits(old), self._peaks, strict=True))
        kept: dict[int, list[bytes]] = {0: list(batch)}
        row, level = kept[0], 0
        while row:  # the new nodes at `level`: indexes [old >> level, new >> level)
            if not level % every:
                kept[level] = row
            if old >> level & 1:  # the first new node is the right sibling of the old peak
                row = [waiting[level], *row]
            if new >> level & 1:  # the last new node is the new peak: no sibling yet
                waiting[level] = row[-1]
            row = parents(row)
            level += 1
        self._size = new
        self._peaks = [waiting[bit] for bit in _set_bits(new)]
        return kept

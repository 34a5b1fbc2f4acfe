"""The ledger as a service: signed tree heads, proofs, and ``candor ledger verify``.

Entries are appended by the services that change state, in their own transactions
(``candor.store.ledger.append``). Heads are signed here, on demand: whenever someone asks for
the head (``GET /v1/ledger/head``, ``candor ledger head``, a proof) and entries have been added
since the last one, the current root is signed with Ed25519 under a key derived from the
deployment secret (HKDF, its own purpose: the ledger key never hashes identifiers). A head
commits to every entry before it; consistency proofs show each head extends the one before.

``verify`` trusts nothing stored: it recomputes every leaf from the entries, the tree from the
leaves, checks every stored node and every signed head against them, and every stored record,
rulebook and listing against the digest in its newest entry, naming the first entry that fails.
It works on pages of entries and objects, with no Python code per leaf or per node, and on a
large ledger checks the tree and ranges of objects in several processes at once: ten million
entries and their records in well under a minute on two cores.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import multiprocessing
import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Connection, make_url

from candor.domain import merkle
from candor.domain.ledger import (
    OBJECT_COLUMNS,
    TreeHead,
    earlier_forms,
    form_digest,
    head_body,
    read_entry,
)
from candor.domain.pseudonyms import derive_key
from candor.errors import InvalidInput, NotFound
from candor.services.secret import DeploymentSecret
from candor.store import ledger as stored
from candor.store.database import Store, open_store

LEDGER_PURPOSE = b"candor/ledger-signing/v1"
MAX_PROBLEMS = 50
_NAMED_ENTRY = re.compile(r"entry (\d+)\b")  # how problems name an entry


def _private(secret: DeploymentSecret, key_id: int) -> Ed25519PrivateKey:
    key = next((k for k in secret.keys if k.id == key_id), None)
    if key is None:
        raise NotFound(f"the deployment secret has no key {key_id}")
    return Ed25519PrivateKey.from_private_bytes(derive_key(key.material, LEDGER_PURPOSE))


def public_keys(secret: DeploymentSecret) -> dict[int, bytes]:
    """The raw Ed25519 public key of each secret key, by key id: what verifies heads."""
    return {
        k.id: _private(secret, k.id).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        for k in secret.keys
    }


def signature_valid(head: TreeHead, public_key: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(head.signature, head.body())
    except (InvalidSignature, ValueError):
        return False
    return True


def head(store: Store, secret: DeploymentSecret) -> TreeHead:
    """The signed head of the whole ledger, signing one now if entries came since the last."""
    with store.read() as conn:
        latest = stored.latest_head(conn)
        size = stored.size(conn)
    if latest is not None and latest.size == size:
        return latest
    with store.write() as conn:
        stored.lock(conn)  # no entry lands between reading the size and signing its root
        size = stored.size(conn)
        latest = stored.latest_head(conn)
        if latest is not None and latest.size == size:
            return latest
        now = datetime.now(UTC)
        root = stored.root_at(conn, size)
        key_id = secret.current.id
        signature = _private(secret, key_id).sign(head_body(size, root, now))
        signed = TreeHead(size, root, now, key_id, signature)
        stored.add_head(conn, signed)
    return signed


def _head_for(conn: Connection, tree_size: int | None) -> TreeHead:
    found = stored.latest_head(conn) if tree_size is None else stored.head_at(conn, tree_size)
    if found is None:
        raise NotFound(
            "no signed head of that size" if tree_size is not None else "the ledger is empty"
        )
    return found


@dataclass(frozen=True)
class Inclusion:
    leaf_index: int
    entry: bytes
    head: TreeHead
    proof: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "entry": read_entry(self.entry),
            "leaf_hash": merkle.leaf_hash(self.entry).hex(),
            "tree_size": self.head.size,
            "root": self.head.root.hex(),
            "proof": [h.hex() for h in self.proof],
            "head": self.head.to_json(),
        }


def inclusion(
    store: Store, secret: DeploymentSecret, leaf_index: int, tree_size: int | None = None
) -> Inclusion:
    """Entry ``leaf_index`` with its proof of inclusion in the head of ``tree_size`` (default:
    the current head, signed now if need be).

    Raises:
        NotFound: no such entry, or no signed head of that size.
        InvalidInput: the head is older than the entry.
    """
    if tree_size is None:
        head(store, secret)
    with store.read() as conn:
        signed = _head_for(conn, tree_size)
        entry = stored.entry_data(conn, leaf_index)
        if entry is None:
            raise NotFound(f"the ledger has no entry {leaf_index}")
        if leaf_index >= signed.size:
            raise InvalidInput(f"entry {leaf_index} is not in the head of size {signed.size}")
        proof = merkle.inclusion_proof(leaf_index, signed.size, stored.TileNodes(conn).subtree())
    return Inclusion(leaf_index, entry, signed, proof)


@dataclass(frozen=True)
class Consistency:
    first: TreeHead
    second: TreeHead
    proof: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "first": self.first.to_json(),
            "second": self.second.to_json(),
            "proof": [h.hex() for h in self.proof],
        }


def consistency(store: Store, first_size: int, second_size: int | None = None) -> Consistency:
    """Proof that the head of ``second_size`` (default: the latest) extends that of
    ``first_size``.

    Raises:
        NotFound: no signed head of either size.
        InvalidInput: the first head is newer than the second.
    """
    with store.read() as conn:
        first = _head_for(conn, first_size)
        second = _head_for(conn, second_size)
        if first.size > second.size:
            raise InvalidInput("the first head must not be newer than the second")
        proof = merkle.consistency_proof(first.size, second.size, stored.TileNodes(conn).subtree())
    return Consistency(first, second, proof)


# --- verify ------------------------------------------------------------------------------------


@dataclass
class Verification:
    entries: int = 0
    heads: int = 0
    objects: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    processes: int = 1  # that checked it (not part of the report: it says how, not what)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    @property
    def first_bad(self) -> int | None:
        """The lowest entry a problem names (None: none does, or all is well)."""
        named = [int(m.group(1)) for p in self.problems if (m := _NAMED_ENTRY.match(p))]
        return min(named, default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "heads": self.heads,
            "objects": self.objects,
            "problems": self.problems,
        }


def _describe(leaf: int, data: bytes) -> str:
    try:
        entry = read_entry(data)
        what = entry.get("kind", "?")
        obj = entry.get("object")
        if isinstance(obj, dict):
            what += f", {obj.get('table')} id {obj.get('id')}"
    except ValueError:
        what = "unreadable"
    return f"entry {leaf} ({what})"


class _StoredLevel:
    """The stored nodes of one tile level, read a run of tiles at a time, against which the
    recomputed nodes are compared a batch at a time (one bytes comparison for the batch when,
    as usual, all of them match)."""

    READ_AHEAD = 256  # tiles a read: 2 MiB at most

    def __init__(self, conn: Connection, level: int) -> None:
        self._conn = conn
        self._tile_level = level // stored.TILE_HEIGHT
        self._first = 0  # the node index of the first node held
        self._held = b""

    def _read(self, first: int, end: int) -> None:
        """Hold the stored nodes [first, end) at least, from the start of first's tile on."""
        start = first >> stored.TILE_HEIGHT
        last = max((end - 1) >> stored.TILE_HEIGHT, start + self.READ_AHEAD - 1)
        found = stored.tiles(self._conn, self._tile_level, start, last)
        width = stored.TILE_WIDTH * stored.HASH
        # A missing or short tile reads as zeros, which no node hash equals: its nodes fail.
        self._held = b"".join(
            found.get(index, b"")[:width].ljust(width, b"\0") for index in range(start, last + 1)
        )
        self._first = start << stored.TILE_HEIGHT

    def mismatches(self, first: int, nodes: Sequence[bytes]) -> list[int]:
        """The positions in ``nodes``, the nodes from index ``first`` on, that differ from the
        stored ones."""
        end = first + len(nodes)
        if first < self._first or end > self._first + len(self._held) // stored.HASH:
            self._read(first, end)
        at = (first - self._first) * stored.HASH
        if self._held[at : at + len(nodes) * stored.HASH] == b"".join(nodes):
            return []
        held = self._held
        return [
            n
            for n, node in enumerate(nodes)
            if held[at + n * stored.HASH : at + (n + 1) * stored.HASH] != node
        ]


@dataclass(frozen=True)
class _Part:
    """A part of the check that can run on its own, in its own read transaction: the tree, or
    the objects of one table with ids in ``(after, through]`` (None: that end open)."""

    table: str | None = None  # None: the tree
    after: int | None = None
    through: int | None = None
    heads: tuple[tuple[int, bytes], ...] = ()  # the tree's: signed heads' (size, root)


@dataclass
class _Found:
    """What a part found: its problems in order, and what it checked."""

    problems: list[str] = field(default_factory=list)
    checked: int = 0  # entries (the tree) or objects

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


Progress = Callable[[str, int], None]


def verify(
    store: Store,
    secret: DeploymentSecret,
    *,
    on_progress: Progress | None = None,
    workers: int | None = None,
) -> Verification:
    """Recompute the ledger and check the store against it (see the module docstring).

    The tree and ranges of objects are checked as separate parts; a ledger of
    ``PARALLEL_FROM`` entries or more has them checked by ``workers`` processes at once (default:
    one per CPU, up to ``MAX_WORKERS``), each part in its own read transaction of the same store,
    the problems reported in the same order as in one pass. The parts are independent checks:
    the tree needs only the entries, an object only its own newest entry, which the change that
    made it committed with it. ``workers=1`` checks everything in this process, in one read
    transaction. A caller's main module must be importable without side effects (the
    ``if __name__ == "__main__"`` guard), as worker processes are started afresh ("spawn").
    """
    result = Verification()
    keys = public_keys(secret)
    with store.read() as conn:
        heads = {h.size: h for h in stored.heads(conn)}
        result.heads = len(heads)
        for h in heads.values():
            key = keys.get(h.key_id)
            if key is None:
                result.problem(
                    f"head of size {h.size}: signed by key {h.key_id}, not in the secret"
                )
            elif not signature_valid(h, key):
                result.problem(f"head of size {h.size}: the signature does not verify")
        parts = [_Part(heads=tuple((h.size, h.root) for h in heads.values()))]
        for table in OBJECT_COLUMNS:
            parts += _object_parts(conn, table)
        processes = result.processes = _workers(store, stored.size(conn), workers)
        if processes == 1:
            found = _check_here(conn, parts, on_progress)
    if processes > 1:
        found = _check_in_processes(store.url, parts, processes, on_progress)
    for part, outcome in zip(parts, found, strict=True):
        for text in outcome.problems:
            result.problem(text)
        if part.table is None:
            result.entries = outcome.checked
        else:
            result.objects[part.table] = result.objects.get(part.table, 0) + outcome.checked
    return result


PARALLEL_FROM = 500_000  # entries; below, starting processes costs more than it saves
MAX_WORKERS = 8
OBJECTS_A_PART = 250_000  # objects: small enough that no worker waits long for another at the end
ENTRIES_A_PAGE = 100_000
OBJECTS_A_PAGE = 50_000


def _workers(store: Store, entries: int, asked: int | None) -> int:
    if make_url(store.url).database in (None, "", ":memory:") and store.dialect == "sqlite":
        return 1  # a store that only this process can see
    if asked is not None:
        return max(asked, 1)
    if entries < PARALLEL_FROM:
        return 1
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return min(len(usable) if usable else os.cpu_count() or 1, MAX_WORKERS)


def _object_parts(conn: Connection, table: str) -> list[_Part]:
    """The objects of ``table`` cut into ranges of ids of about ``OBJECTS_A_PART`` objects
    each (ids are dense: they are assigned in order), the first and the last range open-ended
    so that entries about objects outside them are found too."""
    span = stored.id_span(conn, table)
    if span is None:
        return [_Part(table)]
    low, high, count = span
    parts = -(-count // OBJECTS_A_PART)  # so as many parts as objects allow, however sparse
    width = -(-(high - low + 1) // parts)
    cuts = list(range(low - 1 + width, high, width))
    return [
        _Part(table, after, through)
        for after, through in zip([None, *cuts], [*cuts, None], strict=True)
    ]


def _check(conn: Connection, part: _Part, on_progress: Progress | None) -> _Found:
    with _collector_paused():
        if part.table is None:
            return _check_tree(conn, dict(part.heads), on_progress)
        return _check_objects(conn, part, on_progress)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a part runs. Each page allocates some hundred
    thousand tuples, and each time the allocations pass the collector's threshold it walks the
    live objects: with it paused a part ran about twice as fast (measured). The pages hold no
    cycles, and what little else is left is collected once it resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_here(conn: Connection, parts: list[_Part], on_progress: Progress | None) -> list[_Found]:
    """Every part in turn, in this process's read transaction."""
    found: list[_Found] = []
    done: dict[str, int] = {}  # checked so far, by what was checked
    for part in parts:
        what = part.table or "entries"
        before = done.get(what, 0)
        report = None
        if on_progress is not None:
            report = functools.partial(_report_after, on_progress, before)
        found.append(_check(conn, part, report))
        done[what] = before + found[-1].checked
    return found


def _report_after(on_progress: Progress, before: int, what: str, done: int) -> None:
    on_progress(what, before + done)


def _check_part(url: str, part: _Part) -> _Found:
    """One part, in a worker process: the store opened anew, one read transaction."""
    with open_store(url) as store, store.read() as conn:
        return _check(conn, part, None)


def _check_in_processes(
    url: str, parts: list[_Part], processes: int, on_progress: Progress | None
) -> list[_Found]:
    # Fresh interpreters ("spawn"), not forks of this one: a fork would share the open
    # connections of this process's pool with it.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = {pool.submit(_check_part, url, part): part for part in parts}
        done: dict[str, int] = {}
        for future in as_completed(futures):
            part, found = futures[future], future.result()
            what = part.table or "entries"
            done[what] = done.get(what, 0) + found.checked
            if on_progress:
                on_progress(what, done[what])
        return [future.result() for future in futures]


def _check_tree(conn: Connection, heads: dict[int, bytes], on_progress: Progress | None) -> _Found:
    """Every entry's leaf, and the tree from the leaves, checked against the stored tiles and
    the signed heads' roots, a page of entries at a time."""
    found = _Found()
    frontier = merkle.Frontier()
    levels: dict[int, _StoredLevel] = {}
    tree_broken = False
    if heads.get(0, merkle.EMPTY_ROOT) != merkle.EMPTY_ROOT:
        found.problem("head of size 0: its root is not the empty tree's")
    head_sizes = sorted(size for size in heads if size > 0)

    def add(leaves: list[int], datas: list[bytes]) -> None:
        """Append entries to the tree; check the nodes they complete, and the root if a head
        was signed at the new size."""
        nonlocal tree_broken
        first = frontier.size
        completed = frontier.append_levels(merkle.leaf_hashes(datas), stored.TILE_HEIGHT)
        for level, nodes in sorted(completed.items()):
            if level not in levels:
                levels[level] = _StoredLevel(conn, level)
            for n in levels[level].mismatches(first >> level, nodes):
                if level == 0:
                    found.problem(
                        f"{_describe(leaves[n], datas[n])}: its bytes no longer match the tree "
                        "(the entry was changed after it was appended)"
                    )
                elif not tree_broken:
                    found.problem(
                        f"the stored tree node at level {level}, index {(first >> level) + n} "
                        "does not match the entries below it"
                    )
                tree_broken = True
        root = heads.get(frontier.size)
        if root is not None and frontier.root() != root:
            found.problem(
                f"head of size {frontier.size}: the entries before it no longer give its root"
            )

    for leaves, datas in stored.entry_pages(conn, chunk=ENTRIES_A_PAGE):
        start = frontier.size
        contiguous = leaves[0] == start and leaves[-1] == start + len(leaves) - 1
        end = len(leaves)  # leaf indexes are unique and in order: no gap if the ends are right
        if not contiguous:
            end = next(n for n, leaf in enumerate(leaves) if leaf != start + n)
        at = 0  # cut the page where heads were signed, to check their roots
        for size in head_sizes[
            bisect_right(head_sizes, start) : bisect_right(head_sizes, start + end)
        ]:
            add(leaves[at : size - start], datas[at : size - start])
            at = size - start
        if at < end:
            add(leaves[at:end], datas[at:end])
        if on_progress:
            on_progress("entries", frontier.size)
        if not contiguous:
            found.problem(
                f"entry {frontier.size} is missing (the next stored entry is {leaves[end]})"
            )
            found.checked = frontier.size
            return found
    found.checked = frontier.size
    for size in heads:
        if size > frontier.size:
            found.problem(f"head of size {size}: the ledger holds only {frontier.size} entries")
    return found


def _check_objects(conn: Connection, part: _Part, on_progress: Progress | None) -> _Found:
    """Each object of the part's table in its id range against the digest in its newest
    entry, a page of objects at a time; and that every entry about an object there names one
    that is still stored."""
    assert part.table is not None
    found = _Found()
    after = part.after
    for ids, texts in stored.rendered_forms(
        conn, part.table, after=after, through=part.through, chunk=OBJECTS_A_PAGE
    ):
        entries = stored.latest_entries(conn, part.table, after=after, through=ids[-1])
        found.checked += _match(found, part.table, ids, texts, *entries)
        after = ids[-1]
        if on_progress:
            on_progress(part.table, found.checked)
    _, leaves, datas = stored.latest_entries(conn, part.table, after=after, through=part.through)
    for leaf, data in zip(leaves, datas, strict=True):
        found.problem(f"{_describe(leaf, data)}: the {part.table[:-1]} it names is gone")
    return found


def _match(
    found: _Found,
    table: str,
    ids: list[int],
    texts: list[bytes],
    objects: list[int],
    leaves: list[int],
    datas: list[bytes],
) -> int:
    """Check a page of objects (their ids and stored forms as texts) against the newest
    entries about the same range of ids; return how many had an entry to be checked against."""
    kind = table[:-1]
    if ids == objects:  # as usual: one entry (the newest) per object
        for n in _unmatched(table, texts, _claimed_digests(datas)):
            found.problem(
                f"{_describe(leaves[n], datas[n])}: the stored {kind} no longer matches it"
            )
        return len(ids)
    checked, n = 0, 0  # some objects have no entry, or some entries no object: walk both
    for object_id, text in zip(ids, texts, strict=True):
        while n < len(objects) and objects[n] < object_id:
            found.problem(f"{_describe(leaves[n], datas[n])}: the {kind} it names is gone")
            n += 1
        if n == len(objects) or objects[n] != object_id:
            found.problem(f"{table} id {object_id}: no ledger entry records it")
            continue
        if _unmatched(table, [text], _claimed_digests([datas[n]])):
            found.problem(
                f"{_describe(leaves[n], datas[n])}: the stored {kind} no longer matches it"
            )
        n += 1
        checked += 1
    return checked  # every entry was walked: the page's entries end at its last object


def _unmatched(table: str, texts: list[bytes], claimed: list[object]) -> list[int]:
    """The positions of the stored forms (as ``stored.rendered_forms`` texts) whose digest is
    not the one their entry claims.

    A text whose SHA-256 is the claimed digest is the canonical form the digest was made of, so
    the object is as recorded: for most objects that one hash, of bytes SQLite wrote, is the
    whole check. The others are parsed and hashed as ``object_digest`` hashes them (a text can
    be a faithful rendering that is not canonical: JSON keys out of order, an instant as stored),
    and an object still as an earlier version of candor wrote it is checked against the digest
    of its form then (``domain.ledger.earlier_forms``).
    """
    sha256 = hashlib.sha256
    quick = [sha256(text).hexdigest() for text in texts]
    if quick == claimed:
        return []
    suspects = [
        n for n, (digest, claim) in enumerate(zip(quick, claimed, strict=True)) if digest != claim
    ]
    forms = stored.forms_of(table, [texts[n] for n in suspects])
    return [
        n
        for n, form in zip(suspects, forms, strict=True)
        if form is None
        or (
            form_digest(form) != claimed[n]
            and all(form_digest(e) != claimed[n] for e in earlier_forms(table, form))
        )
    ]


def _claimed_digests(datas: list[bytes]) -> list[object]:
    """The object digest each entry holds (None for an entry that is not a JSON object)."""
    try:
        return [read_entry(data).get("digest") for data in datas]
    except (ValueError, AttributeError):  # an unreadable entry among them: one at a time
        return [_claimed_digest(data) for data in datas]


def _claimed_digest(data: bytes) -> object:
    try:
        entry = read_entry(data)
    except ValueError:
        return None
    return entry.get("digest") if isinstance(entry, dict) else None

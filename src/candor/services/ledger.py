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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Connection, select, true

from candor.domain import merkle
from candor.domain.ledger import OBJECT_COLUMNS, TreeHead, head_body, object_digest, read_entry
from candor.domain.pseudonyms import derive_key
from candor.errors import InvalidInput, NotFound
from candor.services.secret import DeploymentSecret
from candor.store import ledger as stored
from candor.store.database import Store
from candor.store.tables import ledger_tiles

LEDGER_PURPOSE = b"candor/ledger-signing/v1"
MAX_PROBLEMS = 50


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

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
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


class _TileCheck:
    """Compares the nodes a recomputation completes with the stored tiles, a tile at a time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._current: dict[int, tuple[int, bytes]] = {}  # tile level → (tile index, hashes)

    def matches(self, level: int, index: int, digest: bytes) -> bool:
        tile_level, tile_index = level // stored.TILE_HEIGHT, index >> stored.TILE_HEIGHT
        held = self._current.get(tile_level)
        if held is None or held[0] != tile_index:
            blob = self._conn.execute(
                select(ledger_tiles.c.hashes).where(
                    ledger_tiles.c.tile_level == tile_level,
                    ledger_tiles.c.tile_index == tile_index,
                )
            ).scalar()
            held = (tile_index, bytes(blob) if blob is not None else b"")
            self._current[tile_level] = held
        at = (index - (tile_index << stored.TILE_HEIGHT)) * stored.HASH
        return held[1][at : at + stored.HASH] == digest


def verify(
    store: Store,
    secret: DeploymentSecret,
    *,
    on_progress: Callable[[str, int], None] | None = None,
) -> Verification:
    """Recompute the ledger and check the store against it (see the module docstring)."""
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
        _verify_tree(conn, heads, result, on_progress)
        for table in OBJECT_COLUMNS:
            _verify_objects(conn, table, result, on_progress)
    return result


def _verify_tree(
    conn: Connection,
    heads: dict[int, TreeHead],
    result: Verification,
    on_progress: Callable[[str, int], None] | None,
) -> None:
    frontier = merkle.Frontier()
    tiles = _TileCheck(conn)
    expected = 0
    tree_broken = False
    if 0 in heads and heads[0].root != merkle.EMPTY_ROOT:
        result.problem("head of size 0: its root is not the empty tree's")
    batch: list[tuple[int, bytes]] = []

    def flush() -> None:
        nonlocal tree_broken
        hashes = [merkle.leaf_hash(d) for _, d in batch]
        first = frontier.size
        for level, index, digest in frontier.append_many(hashes):
            if level % stored.TILE_HEIGHT == 0 and not tiles.matches(level, index, digest):
                if level == 0:
                    leaf, data = batch[index - first]
                    result.problem(
                        f"{_describe(leaf, data)}: its bytes no longer match the tree (the entry "
                        "was changed after it was appended)"
                    )
                elif not tree_broken:
                    result.problem(
                        f"the stored tree node at level {level}, index {index} does not match "
                        "the entries below it"
                    )
                tree_broken = True
        batch.clear()

    for leaf, data in stored.entries_in_order(conn):
        if leaf != expected:
            result.problem(f"entry {expected} is missing (the next stored entry is {leaf})")
            return
        batch.append((leaf, data))
        expected += 1
        head_here = heads.get(expected)
        if len(batch) >= 10_000 or head_here is not None:
            flush()
            if head_here is not None and frontier.root() != head_here.root:
                result.problem(
                    f"head of size {expected}: the entries before it no longer give its root"
                )
            if on_progress and expected % 10_000 == 0:
                on_progress("entries", expected)
    flush()
    result.entries = expected
    for size in heads:
        if size > expected:
            result.problem(f"head of size {size}: the ledger holds only {expected} entries")


def _rows(conn: Connection, table: str, chunk: int = 50_000) -> Iterator[dict[str, Any]]:
    after = -1
    while True:
        rows = stored.stored_forms(conn, table, true(), after=after, limit=chunk)
        if not rows:
            return
        yield from rows
        after = int(rows[-1]["id"])


def _verify_objects(
    conn: Connection,
    table: str,
    result: Verification,
    on_progress: Callable[[str, int], None] | None,
) -> None:
    entries = stored.latest_entries(conn, table)
    pending = next(entries, None)
    checked = 0
    for row in _rows(conn, table):
        object_id = int(row["id"])
        while pending is not None and pending[0] < object_id:
            result.problem(
                f"{_describe(pending[1], pending[2])}: the {table[:-1]} it names is gone"
            )
            pending = next(entries, None)
        if pending is None or pending[0] != object_id:
            result.problem(f"{table} id {object_id}: no ledger entry records it")
            continue
        _, leaf, data = pending
        if read_entry(data).get("digest") != object_digest(table, row):
            result.problem(f"{_describe(leaf, data)}: the stored {table[:-1]} no longer matches it")
        pending = next(entries, None)
        checked += 1
        if on_progress and checked % 50_000 == 0:
            on_progress(table, checked)
    while pending is not None:
        result.problem(f"{_describe(pending[1], pending[2])}: the {table[:-1]} it names is gone")
        pending = next(entries, None)
    result.objects[table] = checked

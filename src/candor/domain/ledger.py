"""What the ledger records: entries, the stored form of the objects they name, and tree heads.

Every state change — a record accepted or corrected, a rulebook activated, a listing decided,
changed or ended — is one entry, a leaf of the ledger's Merkle tree (``candor.domain.merkle``).
An entry does not copy the object it is about: it holds the SHA-256 of the object's stored form
(``object_digest``), so that the ledger never holds personal data of its own, and changing any
byte of a stored record, listing or rulebook shows as a digest that no longer matches its latest
entry. A listing changes over its life; each change is a new entry with the new digest.

The encoding is candor's own (no library defines "a credit record's stored form"): canonical
JSON — keys sorted, no insignificant whitespace, UTF-8, dates ISO 8601, instants in UTC with a
``Z``, binary as hex. Any implementation that reads the same row gets the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

FORMAT = 1
ORIGIN = "candor"  # the first line of every tree head (C2SP tlog-checkpoint's origin)

# Kinds of entry. An objection's decision and an erasure join them with due process.
RECORD_ACCEPTED = "record.accepted"
RECORD_CORRECTION = "record.correction"  # a record whose refers_to names an earlier one
RECORD_ERASED = "record.erased"  # its personal data erased: retention ended, or an officer
RULEBOOK_ACTIVATED = "rulebook.activated"
LISTING_ANNOUNCED = "listing.announced"  # decided; takes effect when its warning has run
LISTING_STARTED = "listing.started"
LISTING_CHANGED = "listing.changed"  # its end moved (a term extended, a trigger met)
LISTING_ENDED = "listing.ended"  # removed or withdrawn

# The columns each kind of object is hashed over: every column that says what the object is.
# A listing's `as_of` and `updated_at` say when it was last computed, not what it is, and change
# on every rating: they are left out, so a re-rating that changes nothing is no state change.
OBJECT_COLUMNS: dict[str, tuple[str, ...]] = {
    "records": (
        "id",
        "source_id",
        "source_record_id",
        "subject_id",
        "identifier_id",
        "record_type",
        "name",
        "sealed",  # the ciphertext only: the ledger holds no hash of personal data
        "occurred_on",
        "decided_on",
        "legal_basis",
        "status",
        "refers_to",
        "refers_to_id",
        "original_id",
        "attributes",
        "batch_id",
        "erased_on",
    ),
    "rulebooks": (
        "id",
        "name",
        "version",
        "title",
        "content",
        "digest",
        "effective_from",
        "activated_at",
        "activated_by",
    ),
    "objections": (
        "id",
        "ref",
        "subject_id",
        "about",
        "record_id",
        "listing_id",
        "rulebook_id",
        "statement",
        "filed_by",
        "filed_at",
        "due_on",
        "state",
        "reviewer",
        "decision",
        "reasons",
        "decided_by",
        "decided_at",
        "appeal_statement",
        "appealed_at",
        "appeal_due_on",
        "appeal_decision",
        "appeal_reasons",
        "appeal_decided_by",
        "appeal_decided_at",
        "correction_record_id",
    ),
    "repairs": (
        "id",
        "ref",
        "subject_id",
        "listing_id",
        "statement",
        "filed_by",
        "filed_at",
        "due_on",
        "state",
        "reviewer",
        "reasons",
        "decided_by",
        "decided_at",
        "approval_record_id",
    ),
    "listings": (
        "id",
        "ref",
        "rulebook_id",
        "list_name",
        "subject_id",
        "record_id",
        "criterion",
        "starts_on",
        "ends_on",
        "removed_on",
        "removed_by",
        "withdrawn_on",
    ),
}


# Columns added to a table's form after entries about its objects were first written, newest
# last, each with the revision that added it. An entry written before holds the digest of the
# form without them, and it still stands for an object whose added columns are all null (as
# they were when it was written): every other column is checked against it, and a value put in
# an added column later no longer matches it.
ADDED_COLUMNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "records": (("sealed", "erased_on"),),  # revision 0010: personal data under data keys
    "rulebooks": (("activated_by",),),  # revision 0012: who activated a version
}


def earlier_forms(table: str, form: list[Any]) -> list[list[Any]]:
    """The forms an earlier version of candor hashed the object whose stored form (values in
    ``OBJECT_COLUMNS`` order) is ``form`` as, newest first: none while any column added since is
    not null."""
    columns = OBJECT_COLUMNS[table]
    earlier: list[list[Any]] = []
    left_out: set[str] = set()
    for added in reversed(ADDED_COLUMNS.get(table, ())):
        left_out.update(added)
        positions = [columns.index(name) for name in added]
        if any(form[n] is not None for n in positions):
            break
        earlier.append([v for c, v in zip(columns, form, strict=True) if c not in left_out])
    return earlier


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot encode {type(value).__name__} in a ledger entry")


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes of ``value`` (see the module docstring). Instants without a zone
    are UTC (SQLite hands them back so; candor stores UTC)."""
    return orjson.dumps(
        value,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC,
        default=_default,
    )


def object_digest(table: str, row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an object's stored form: the canonical JSON array of its values in
    ``OBJECT_COLUMNS[table]`` order (an array, not an object: the order is fixed here, and
    ingestion hashes every record it accepts)."""
    return form_digest([row[c] for c in OBJECT_COLUMNS[table]])


def form_digest(values: list[Any]) -> str:
    """``object_digest`` of a stored form given as its values in ``OBJECT_COLUMNS`` order."""
    return hashlib.sha256(canonical(values)).hexdigest()


class _LastInstant:
    """The canonical text of the instant last encoded, kept by identity: the entries of one
    append share theirs, and encoding an instant costs more than the rest of an entry. (Not by
    equality: equal instants in different zones encode differently.) One tuple, swapped whole,
    so that threads sharing it never pair one instant with another's text."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[datetime | None, str] = (None, "")

    def of(self, at: datetime) -> str:
        last = self.last
        if last[0] is at:
            return last[1]
        text = canonical(at)[1:-1].decode()  # the JSON string's characters (all ASCII)
        self.last = (at, text)
        return text


_last_instant = _LastInstant()


@dataclass(frozen=True, slots=True)
class Entry:
    """One state change, before it has its place in the tree."""

    kind: str
    table: str | None
    object_id: int | None
    subject_id: int | None
    digest: str | None  # the object's digest after the change
    at: datetime
    detail: Mapping[str, Any] | None = None  # what else the change says (never personal data)

    def data(self) -> bytes:
        """The entry's bytes: what the leaf hashes, and what is stored."""
        if self.table is not None and not self.detail and isinstance(self.at, datetime):
            # Most entries: the same bytes as below, the keys written in canonical order.
            return orjson.dumps(
                {
                    "at": _last_instant.of(self.at),
                    "digest": self.digest,
                    "kind": self.kind,
                    "object": {"id": self.object_id, "table": self.table},
                    "v": FORMAT,
                },
                default=_default,
            )
        body: dict[str, Any] = {"v": FORMAT, "kind": self.kind, "at": self.at}
        if self.table is not None:
            body["object"] = {"table": self.table, "id": self.object_id}
            body["digest"] = self.digest
        if self.detail:
            body["detail"] = dict(self.detail)
        return canonical(body)


def read_entry(data: bytes) -> dict[str, Any]:
    """An entry's bytes as a mapping."""
    parsed: dict[str, Any] = orjson.loads(data)
    return parsed


def for_object(
    kind: str, table: str, row: Mapping[str, Any], at: datetime, *, digest: str | None = None
) -> Entry:
    """The entry for a change that left ``row`` (of ``table``) as it now is (``digest``: its
    ``object_digest``, when the caller has it already)."""
    subject = row.get("subject_id") if table != "rulebooks" else None
    if digest is None:
        digest = object_digest(table, row)
    return Entry(kind, table, int(row["id"]), subject, digest, at)


# --- tree heads --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The root of the ledger's first ``size`` entries, as signed."""

    size: int
    root: bytes
    signed_at: datetime
    key_id: int
    signature: bytes

    def body(self) -> bytes:
        return head_body(self.size, self.root, self.signed_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": ORIGIN,
            "size": self.size,
            "root": self.root.hex(),
            "signed_at": self.signed_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
            "checkpoint": self.body().decode(),
        }


def head_body(size: int, root: bytes, signed_at: datetime) -> bytes:
    """What a tree head's signature covers: a C2SP tlog-checkpoint body (origin, size, base64
    root) with the signing time as an extension line."""
    when = signed_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\ntime {when}\n".encode()

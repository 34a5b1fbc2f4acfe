"""Ingestion: records from a source's file or API request into the store, each batch durably.

A batch is read, checked column by column, its identifiers replaced by their keyed hashes, and
then written in one transaction together with its rejects and its place in the ingestion's
tally. Only after that transaction commits is the batch acknowledged (progress, the API's
answer). Reading and checking the next batch runs on a second thread while the store writes
the current one, so the two halves overlap.

Personal data: a record's name (and any attribute the registry marks personal) is sealed in the
writing transaction under its subject's data key, created there for a new subject
(``candor.services.data_keys``); only the ciphertext is stored, and hashed into the ledger.

Idempotency: a source's ``source_record_id`` names one record. Sent again unchanged it counts
as a duplicate; sent again changed it is rejected, because records are never edited — a
correction is a new record whose ``refers_to`` names the old one.

A crash (a killed process, a stopped machine) loses only the batch being written: every batch
acknowledged before it is in the store, nothing of the one in flight is. Ingesting the file
again adds the rest, the rows already in counting as duplicates. The crashed run's row, left
``running``, is marked failed as interrupted by the next file ingestion (see
``candor.store.ingestions``).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import compress, repeat
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, and_
from sqlalchemy.exc import IntegrityError, OperationalError

from candor.domain import resubmission
from candor.domain.identifiers import IdentifierScheme
from candor.domain.ledger import RECORD_ACCEPTED, RECORD_CORRECTION
from candor.domain.pseudonyms import IdentifierHasher
from candor.domain.references import Referable, Reference, Refusal, check_references
from candor.domain.registry import Registry
from candor.domain.rejects import Reject
from candor.domain.sealing import Unopenable, plaintext, split_attributes
from candor.domain.subjects import A_KIND
from candor.domain.validation import CheckedBatch, RecordRules, check_batch
from candor.errors import InvalidInput, PayloadTooLarge
from candor.formats.csv_records import read_csv
from candor.formats.jsonl_records import objects_batch, read_jsonl
from candor.formats.raw import RawBatch
from candor.formats.rejects_file import RejectsFile, default_rejects_path, file_format
from candor.services import subject_notices
from candor.services.background import prefetch
from candor.services.data_keys import DataKeys, open_personal, seal_all
from candor.services.logs import describe_failure
from candor.services.rating import rerate_subject
from candor.services.secret import KeyRing, load_secret
from candor.services.sources import get_source
from candor.settings import Settings
from candor.store import Store
from candor.store import ingestions as runs
from candor.store import ledger as ledger_rows
from candor.store import records as record_rows
from candor.store import subjects as subject_rows
from candor.store.ingestions import BatchCounts
from candor.store.sources import SourceRow
from candor.store.subjects import NewIdentifier, Resolved
from candor.store.tables import records

log = logging.getLogger("candor.ingestion")

# A write that collides with a concurrent ingester (the same new subject, the same record id)
# is retried from the start: by then the other writer's rows are visible and are reused.
WRITE_ATTEMPTS = 5
# About 240 bytes each, so some 60 MiB: the bound on what one run spends remembering resolved
# identifiers (the cache starts again when full; it only saves look-ups).
KNOWN_IDENTIFIERS_MAX = 250_000


@dataclass(frozen=True)
class Progress:
    """Where an ingestion stands after a committed batch: what is acknowledged so far."""

    position: int  # bytes of the file consumed
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    ingestion_id: int
    batches: int  # batches committed so far; the last one's ingest_batches.seq is batches - 1
    last_row: int | None  # the last file row of the last batch committed


@dataclass(frozen=True)
class IngestResult:
    ingestion_id: int
    rows_read: int
    accepted: int
    rejected: int  # rows, not reasons: a row can have several reasons
    duplicates: int
    rejects_path: Path | None = None
    rejects: list[Reject] = field(default_factory=list)  # kept only for API batches

    def summary(self) -> dict[str, Any]:
        """The CONTRACT's answer to `candor ingest`."""
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "rejects": str(self.rejects_path) if self.rejects_path else None,
        }


@dataclass
class _Prepared:
    """A checked batch with identifiers replaced by their keyed hashes."""

    records: pl.DataFrame  # CHECKED_COLUMNS minus `identifier`, plus `digest`
    identifiers: list[NewIdentifier]
    rejects: list[Reject]
    duplicates: int
    rows_read: int
    position: int
    first_row: int | None
    last_row: int | None
    # The record columns as Python lists, in ``_LIST_COLUMNS`` order, made on the reading thread
    # so that the writing thread only zips them with the subject ids it resolves.
    columns: list[list[Any]]
    keys: tuple[int, int | None]  # the newest key the hashes are under, and the one before
    # Each row's personal data (its name and personal attributes) as the plaintext to seal: the
    # writer seals it under the subject's data key once it knows the subject.
    personal: list[bytes]


# Record columns the writer inserts as they are (the ids it adds itself and the sealed personal
# data left out), and the keyed hash that finds each row's subject.
_ADDED_BY_WRITER = ("source_id", "subject_id", "identifier_id", "batch_id", "name", "sealed")
_LIST_COLUMNS = (
    *(c for c in record_rows.INSERT_COLUMNS if c not in _ADDED_BY_WRITER),
    "digest",
)


def _prepare(raw: RawBatch, rules: RecordRules, hasher: IdentifierHasher) -> _Prepared:
    checked: CheckedBatch = check_batch(raw.frame, rules)
    frame = checked.records
    numbers = [*raw.frame.get_column("row").to_list(), *(r.row for r in raw.rejects)]
    first, last = (min(numbers), max(numbers)) if numbers else (None, None)

    # One hash per distinct identifier; a subject's records usually come together.
    distinct = (
        frame.select("identifier_scheme", "identifier", "subject_kind", "region_code", "birth_date")
        # A known kind wins for `other` identifiers; among rows alike, the earliest.
        .sort(pl.col("subject_kind") == "unknown", maintain_order=True)
        .unique(subset=["identifier_scheme", "identifier"], keep="first", maintain_order=True)
    )
    hashed = hasher.hashed(
        zip(
            distinct.get_column("identifier_scheme").to_list(),
            distinct.get_column("identifier").to_list(),
            strict=True,
        )
    )
    distinct = distinct.with_columns(pl.Series("digest", hashed.digests, dtype=pl.Binary))
    previous: list[bytes | None] = (
        [*hashed.previous] if hashed.previous else [None] * distinct.height
    )
    identifiers = [
        NewIdentifier(scheme, digest, kind, region, born, below)
        for (scheme, digest, kind, region, born), below in zip(
            distinct.select(
                "identifier_scheme", "digest", "subject_kind", "region_code", "birth_date"
            ).iter_rows(),
            previous,
            strict=True,
        )
    ]
    frame = frame.join(
        distinct.select("identifier_scheme", "identifier", "digest"),
        on=["identifier_scheme", "identifier"],
        how="left",
        maintain_order="left",
    ).drop("identifier")
    columns = [
        s.to_list()
        for s in frame.select(
            pl.col(c).dt.to_string("%Y-%m-%d") if c in ("occurred_on", "decided_on") else pl.col(c)
            for c in _LIST_COLUMNS
        ).get_columns()
    ]
    personal, kept = _personal_data(frame, rules.registry.personal_attributes)
    if kept is not None:
        columns[_LIST_COLUMNS.index("attributes")] = kept
    return _Prepared(
        records=frame,
        identifiers=identifiers,
        rejects=raw.rejects + checked.rejects,
        duplicates=checked.duplicates,
        rows_read=raw.rows_read,
        position=raw.position,
        first_row=first,
        last_row=last,
        columns=columns,
        keys=(hashed.key_id, hashed.previous_key_id),
        personal=personal,
    )


def _personal_data(
    frame: pl.DataFrame, personal: Mapping[str, frozenset[str]]
) -> tuple[list[bytes], list[str] | None]:
    """Each row's personal data as the plaintext to seal, and — when some rows carry personal
    attributes — every row's attributes without them (None: the attributes stay as they are)."""
    types = frame.get_column("record_type")
    if not personal or not types.is_in(list(personal)).any():
        texts: list[bytes] = (
            frame.select(pl.struct("name").struct.json_encode().cast(pl.Binary))
            .to_series()
            .to_list()
        )
        return texts, None
    texts, kept = [], []
    for name, record_type, attributes in frame.select(
        "name", "record_type", "attributes"
    ).iter_rows():
        clear, secret = split_attributes(orjson.loads(attributes), personal.get(record_type, _NONE))
        texts.append(plaintext(name, secret))
        kept.append(orjson.dumps(clear).decode())
    return texts, kept


_NONE: frozenset[str] = frozenset()


def _with_subjects(frame: pl.DataFrame, resolved: dict[bytes, Resolved]) -> pl.DataFrame:
    """Add each row's subject_id, identifier_id and the subject's stored kind."""
    ids = pl.DataFrame(
        {
            "digest": list(resolved),
            "subject_id": [r.subject_id for r in resolved.values()],
            "identifier_id": [r.identifier_id for r in resolved.values()],
            "stored_kind": [r.kind for r in resolved.values()],
        },
        schema={
            "digest": pl.Binary(),
            "subject_id": pl.Int64(),
            "identifier_id": pl.Int64(),
            "stored_kind": pl.String(),
        },
    )
    return frame.join(ids, on="digest", how="left", maintain_order="left")


def _record_entry_kind(row: Mapping[str, Any]) -> str:
    return RECORD_CORRECTION if row["refers_to"] is not None else RECORD_ACCEPTED


def _kind_conflicts() -> pl.Expr:
    kind, stored = pl.col("subject_kind"), pl.col("stored_kind")
    return (kind != "unknown") & (stored != "unknown") & (kind != stored)


def _kind_conflict_reason(row: dict[str, Any]) -> str:
    return (
        f"the subject this identifier names is {A_KIND[row['stored_kind']]}, but this record "
        f"is about {A_KIND[row['subject_kind']]} (by its record type or subject_kind)"
    )


class Ingestion:
    """One ingestion run of one source: a file, or one API request."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        hasher: IdentifierHasher | Callable[[], IdentifierHasher],
        source: SourceRow,
        *,
        data_keys: DataKeys,
        channel: str,
        file_name: str | None,
        today: date,
    ) -> None:
        """``hasher`` may be a function giving the current keys (``KeyRing.current``): each
        batch then takes them up, so that a long run follows a key rotation. ``data_keys``
        seal each record's personal data under its subject's key."""
        self.store = store
        self.source = source
        self._hasher = hasher
        self._data_keys = data_keys
        self._personal = registry.personal_attributes
        self.rules = RecordRules(registry, source.mandate, today)
        self._seq = 0
        claim: runs.Claim | None = None
        try:
            with store.write() as conn:
                self.id = runs.start(conn, source.id, channel, file_name, datetime.now(UTC))
                # A file's run is claimed before its row is committed, so that no one ever sees
                # it `running` unclaimed and takes it for one whose process has gone. (An API
                # request's run is not: it lasts one request, and is taken for gone by its age.)
                if channel == "file":
                    claim = runs.claim(conn, self.id)
        except BaseException:
            if claim is not None:
                claim.release()
            raise
        self._claim = claim or runs.Claim()
        self.totals = BatchCounts(0, 0, 0, 0)
        # Identifiers this run has resolved in committed batches: a subject's records are spread
        # over a file, and looking each identifier up once per run instead of once per batch
        # takes a large share of the writing off the store.
        self._known: dict[bytes, Resolved] = {}

    @property
    def batches(self) -> int:
        """How many batches this run has committed."""
        return self._seq

    def prepare(self, raw: RawBatch) -> _Prepared:
        hasher = self._hasher if isinstance(self._hasher, IdentifierHasher) else self._hasher()
        return _prepare(raw, self.rules, hasher)

    def commit(self, batch: _Prepared) -> list[Reject]:
        """Write one prepared batch durably; return all its rejects. Retries on collisions."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.store.write() as conn:
                    rejects, counts, resolved = self._write(conn, batch)
                break
            except (IntegrityError, OperationalError) as e:
                if attempt == WRITE_ATTEMPTS or not _retryable(e):
                    raise
                # The other writer has committed or is about to: let it, then look again.
                time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 (jitter)
        self._seq += 1
        log.debug(
            "ingestion %d batch %d committed: %d accepted, %d rejected, %d duplicates",
            self.id,
            self._seq,
            counts.accepted,
            counts.rejected,
            counts.duplicates,
        )
        if len(self._known) > KNOWN_IDENTIFIERS_MAX:
            self._known.clear()
        self._known.update((d, r) for d, r in resolved.items() if r.kind != "unknown")
        t = self.totals
        self.totals = BatchCounts(
            t.accepted + counts.accepted,
            t.rejected + counts.rejected,
            t.duplicates + counts.duplicates,
            t.rows_read + counts.rows_read,
        )
        return rejects

    def _write(
        self, conn: Connection, batch: _Prepared
    ) -> tuple[list[Reject], BatchCounts, dict[bytes, Resolved]]:
        now = datetime.now(UTC)
        source_id = self.source.id
        rejects = list(batch.rejects)
        resolved = subject_rows.resolve(conn, batch.keys, batch.identifiers, now, self._known)
        frame = batch.records
        dropped: set[str] = set()  # rows of this batch refused before the insert

        def refuse(row: dict[str, Any], fld: str, reason: str) -> None:
            rejects.append(Reject(row["row"], fld, reason, row["source_record_id"]))
            dropped.add(row["source_record_id"])

        # These checks look at few rows: conflicts and corrections are the exception. Only an
        # identifier of scheme `other` can disagree with its subject's kind.
        if frame.get_column("identifier_scheme").eq(IdentifierScheme.OTHER.value).any():
            for row in (
                _with_subjects(frame, resolved).filter(_kind_conflicts()).iter_rows(named=True)
            ):
                refuse(row, "subject_kind", _kind_conflict_reason(row))
        refused_here = {r.source_record_id: r.row for r in rejects if r.source_record_id}
        referring, refusals = self._check_references(conn, frame, resolved, refused_here)
        for refusal in refusals:
            rejects.append(
                Reject(refusal.row, "refers_to", refusal.reason, refusal.source_record_id)
            )
            dropped.add(refusal.source_record_id)
        batch_id = runs.add_batch(conn, self.id, self._seq, (batch.first_row, batch.last_row), now)
        # Every subject of the rows kept gets its data key now (created where it has none),
        # held against shredding until the batch commits.
        keys = self._data_keys.for_sealing(conn, _subjects_kept(batch, resolved, dropped), now)
        rows = _record_tuples(batch, resolved, dropped, source_id, batch_id, keys)
        # Records get their ids as they go in, above every id there was: the batch's are found
        # again by that range (records.batch_id has no index, and a scan per batch would grow
        # with the store).
        before = record_rows.newest_id(conn)
        inserted = record_rows.insert_new(conn, rows)
        duplicates = batch.duplicates
        resubmitted: set[str] = set()
        if inserted < len(rows):
            # Rows the unique index skipped were sent before: unchanged is a duplicate,
            # changed is refused — a record is never overwritten.
            candidates = _with_subjects(frame, resolved)
            if dropped:
                candidates = candidates.filter(~pl.col("source_record_id").is_in(list(dropped)))
            srids = candidates.get_column("source_record_id").to_list()
            stored = _as_sent(
                record_rows.stored(conn, source_id, srids, not_in_batch=batch_id),
                candidates,
                keys,
                source_id,
                self._personal,
            )
            resubmitted = set(stored.get_column("source_record_id").to_list())
            changed = resubmission.changed(candidates, stored, identity=("identifier_id",))
            duplicates += stored.height - changed.height
            rejects += [
                Reject(
                    row,
                    "source_record_id",
                    "was accepted before with different content; records are never "
                    "overwritten — send a correction as a new record with refers_to",
                    srid,
                )
                for row, srid in changed.select("row", "source_record_id").iter_rows()
            ]
        record_rows.resolve_refers_to(
            conn, source_id, [s for s in referring if s not in resubmitted]
        )
        rejects.sort()
        counts = BatchCounts(inserted, len({r.row for r in rejects}), duplicates, batch.rows_read)
        runs.count_batch(conn, self.id, batch_id, counts)
        runs.add_rejects(conn, batch_id, rejects)
        if inserted:
            written = and_(records.c.id > before, records.c.batch_id == batch_id)
            # Read back once, as stored: the notices and the ledger's digests are made of it.
            accepted = ledger_rows.stored_forms(conn, "records", written)
            # Each subject is told what was accepted about it, in the batch's transaction: the
            # notice exists exactly when the records do.
            subject_notices.records_accepted(conn, accepted, now)
            # Last: the ledger's lock is held from here to the commit.
            ledger_rows.append_forms(conn, "records", accepted, _record_entry_kind, now)
        return rejects, counts, resolved

    def _check_references(
        self,
        conn: Connection,
        frame: pl.DataFrame,
        resolved: dict[bytes, Resolved],
        refused: dict[str, int],
    ) -> tuple[list[str], list[Refusal]]:
        """The ids of the rows whose ``refers_to`` stands, and the refusals of the others."""
        referring = frame.filter(pl.col("refers_to").is_not_null())
        if referring.is_empty():
            return [], []
        targets = sorted(set(referring.get_column("refers_to").to_list()))
        stored = record_rows.referable(conn, self.source.id, targets)

        def subject(digest: bytes) -> int:
            return resolved[digest].subject_id

        batch = {
            srid: Referable(subject(digest), decided, row)
            for srid, digest, decided, row in frame.filter(
                pl.col("source_record_id").is_in(targets)
            )
            .select("source_record_id", "digest", "decided_on", "row")
            .iter_rows()
        }
        references = [
            Reference(row, srid, target, subject(digest), decided)
            for row, srid, target, digest, decided in referring.select(
                "row", "source_record_id", "refers_to", "digest", "decided_on"
            ).iter_rows()
        ]
        return check_references(references, stored, batch, refused)

    def finish(self, *, error: str | None = None) -> None:
        t = self.totals
        if error:
            log.error(
                "ingestion %d from %s failed after %d committed batches (%d accepted): %s",
                self.id,
                self.source.name,
                self._seq,
                t.accepted,
                error,
            )
        else:
            log.info(
                "ingestion %d from %s: %d rows read, %d accepted, %d rejected, %d duplicates",
                self.id,
                self.source.name,
                t.rows_read,
                t.accepted,
                t.rejected,
                t.duplicates,
            )
        try:
            with self.store.write() as conn:
                runs.finish(
                    conn, self.id, "failed" if error else "completed", datetime.now(UTC), error
                )
        finally:
            # Given up even when the write failed: the run then reads as interrupted, which
            # it is.
            self._claim.release()


def mark_interrupted(store: Store) -> list[int]:
    """Mark failed the ingestions left ``running`` by a process that has gone; their ids."""
    # The claims taken are given up once the transaction has ended (the stack closes last).
    with contextlib.ExitStack() as after_commit, store.write() as conn:
        gone = runs.mark_interrupted(conn, after_commit, datetime.now(UTC))
    for run_id in gone:
        log.warning(
            "ingestion %d was interrupted (its process ended before it finished); marked "
            "failed, its committed batches kept",
            run_id,
        )
    return gone


# SQLSTATEs of a collision with a concurrent writer: unique violation, serialization failure,
# deadlock. Any other integrity error (a CHECK, a foreign key) would fail again the same way.
_COLLISIONS = {"23505", "40001", "40P01"}


def _retryable(e: Exception) -> bool:
    """Whether a failed batch write collided with another writer and is worth repeating."""
    original = getattr(e, "orig", e)
    code = getattr(original, "sqlstate", None)
    if code is not None:
        return code in _COLLISIONS
    text = str(original)
    return text.startswith("UNIQUE constraint failed") or "database is locked" in text


def _as_sent(
    stored: pl.DataFrame,
    sent: pl.DataFrame,
    keys: Mapping[int, AESGCM],
    source_id: int,
    personal: Mapping[str, frozenset[str]],
) -> pl.DataFrame:
    """Stored records (``records.stored``) with their name and attributes opened from their
    sealed data, for comparing with the rows ``sent`` again. Where that data was erased, the
    sent values stand in for it: what candor no longer holds cannot make a resubmission differ.
    """
    if stored.is_empty():
        return stored
    sent_rows = {
        srid: (name, attributes)
        for srid, name, attributes in sent.select(
            "source_record_id", "name", "attributes"
        ).iter_rows()
    }
    names, attributes = [], []
    for srid, subject, stored_name, record_type, clear, blob in stored.select(
        "source_record_id", "subject_id", "name", "record_type", "attributes", "sealed"
    ).iter_rows():
        row = {
            "source_id": source_id,
            "source_record_id": srid,
            "subject_id": subject,
            "name": stored_name,
            "sealed": blob,
        }
        try:
            found = open_personal(keys, row)
        except Unopenable:
            found = None
        if found is not None:
            name, secret = found.name, found.attributes
        else:
            name, sent_attributes = sent_rows[srid]
            mine = personal.get(record_type, _NONE)
            secret = {k: v for k, v in orjson.loads(sent_attributes).items() if k in mine}
        names.append(name)
        attributes.append(orjson.dumps({**orjson.loads(clear), **secret}).decode())
    return stored.with_columns(
        pl.Series("name", names, dtype=pl.String),
        pl.Series("attributes", attributes, dtype=pl.String),
    )


def _subjects_kept(
    batch: _Prepared, resolved: dict[bytes, Resolved], dropped: set[str]
) -> set[int]:
    """The subjects of the batch's rows not dropped."""
    if not dropped:
        return {r.subject_id for r in resolved.values()}
    lists = dict(zip(_LIST_COLUMNS, batch.columns, strict=True))
    return {
        resolved[digest].subject_id
        for digest, srid in zip(lists["digest"], lists["source_record_id"], strict=True)
        if srid not in dropped
    }


def _record_tuples(
    batch: _Prepared,
    resolved: dict[bytes, Resolved],
    dropped: set[str],
    source_id: int,
    batch_id: int,
    keys: Mapping[int, AESGCM],
) -> list[tuple[Any, ...]]:
    """The batch's rows not dropped, as tuples in ``records.INSERT_COLUMNS`` order, their
    personal data sealed under ``keys`` (by subject id)."""
    lists: dict[str, Any] = dict(zip(_LIST_COLUMNS, batch.columns, strict=True))
    lists["personal"] = batch.personal
    if dropped:  # rare: refused references and kinds
        kept = [srid not in dropped for srid in lists["source_record_id"]]
        lists = {c: list(compress(values, kept)) for c, values in lists.items()}
    subjects = [resolved[d] for d in lists.pop("digest")]
    lists["subject_id"] = [s.subject_id for s in subjects]
    lists["identifier_id"] = [s.identifier_id for s in subjects]
    lists["source_id"] = repeat(source_id)
    lists["batch_id"] = repeat(batch_id)
    lists["name"] = repeat("")  # sealed, not kept in the clear
    lists["sealed"] = seal_all(
        keys, lists["subject_id"], lists.pop("personal"), source_id, lists["source_record_id"]
    )
    # `repeat` is endless; the lists are of one length.
    return list(zip(*(lists[c] for c in record_rows.INSERT_COLUMNS), strict=False))


def _batches(path: Path, fmt: str, registry: Registry, batch_rows: int) -> Iterator[RawBatch]:
    reader = read_csv if fmt == "csv" else read_jsonl
    return reader(path, attribute_names=registry.attribute_names, batch_rows=batch_rows)


def ingest_file(
    store: Store,
    settings: Settings,
    registry: Registry,
    path: Path,
    source_name: str,
    *,
    rejects_path: Path | None = None,
    fmt: str | None = None,
    today: date | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> IngestResult:
    """Ingest a CSV or JSON Lines file for a source; each batch is committed before the next.

    Raises:
        NotFound: the source is not registered.
        InvalidInput: the file cannot be read as a record file (nothing of it was accepted,
            or — for damage found later — everything before it was accepted and counted).
    """
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    kind = file_format(path, fmt)
    source = get_source(store, source_name)
    keys = KeyRing(settings)
    data_keys = DataKeys(lambda: load_secret(settings))
    # A file is often ingested again because its last run was interrupted: say so in the store
    # first. (Not per API request: each would scan the runs.)
    mark_interrupted(store)
    out = RejectsFile(rejects_path or default_rejects_path(path), reading=path)
    try:
        run = Ingestion(
            store,
            registry,
            keys.current,
            source,
            data_keys=data_keys,
            channel="file",
            file_name=path.name[:255],
            today=today or date.today(),
        )
    except BaseException:
        out.close()
        raise
    try:
        prepared = (
            run.prepare(raw) for raw in _batches(path, kind, registry, settings.ingest_batch_rows)
        )
        for batch in prefetch(prepared, name="candor-ingest-reader"):
            out.write(run.commit(batch))
            if on_progress:
                t = run.totals
                on_progress(
                    Progress(
                        batch.position,
                        t.rows_read,
                        t.accepted,
                        t.rejected,
                        t.duplicates,
                        run.id,
                        run.batches,
                        batch.last_row,
                    )
                )
    except BaseException as e:
        run.finish(error=describe_failure(e)[:2000])
        raise
    finally:
        out.close()
    run.finish()
    t = run.totals
    return IngestResult(run.id, t.rows_read, t.accepted, t.rejected, t.duplicates, out.path)


def ingest_objects(
    store: Store,
    settings: Settings,
    registry: Registry,
    source_name: str,
    objects: list[Any],
    *,
    today: date | None = None,
) -> IngestResult:
    """Ingest one API request's records as one batch, committed before this returns."""
    if len(objects) > settings.api_max_batch:
        raise PayloadTooLarge(
            f"a request may carry at most {settings.api_max_batch} records; this one has "
            f"{len(objects)} — split it",
            limit=settings.api_max_batch,
        )
    source = get_source(store, source_name)
    secret = load_secret(settings)
    run = Ingestion(
        store,
        registry,
        secret.identifier_hasher(),
        source,
        data_keys=DataKeys(secret),
        channel="api",
        file_name=None,
        today=today or date.today(),
    )
    try:
        raw = objects_batch(objects, attribute_names=registry.attribute_names)
        rejects = run.commit(run.prepare(raw))
    except BaseException as e:
        run.finish(error=describe_failure(e)[:2000])
        raise
    run.finish()
    if run.totals.accepted:
        _rerate_changed(store, registry, run.id, settings.rerate_inline_max, today or date.today())
    t = run.totals
    return IngestResult(run.id, t.rows_read, t.accepted, t.rejected, t.duplicates, None, rejects)


def _rerate_changed(store: Store, registry: Registry, run_id: int, most: int, today: date) -> None:
    """Re-rate in the store the subjects whose records this request added (up to ``most``).

    The records are already committed and acknowledged; a subject left out here (or whose
    re-rating fails) is stale, and a check or the next batch run rates it before it is relied on.
    """
    with store.read() as conn:
        changed = record_rows.subjects_of_ingestion(conn, run_id)
    for subject_id in changed[:most]:
        try:
            rerate_subject(store, registry, subject_id, today=today)
        except Exception:  # the records are committed; the answer must say so
            log.exception("re-rating subject %d after ingestion %d failed", subject_id, run_id)

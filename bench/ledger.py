"""The ledger: append rate, inclusion proofs on a 10M-leaf log, a full verify of that log.

Three targets (the issue):

- **Append rate ≥ 100,000 leaves/s.** 1M ``record.accepted`` entries (a 64-hex digest each,
  increasing record ids, subjects that exist) appended with ``candor.store.ledger.append`` to a
  fresh SQLite store, in durable write transactions of ingestion's batch size: leaf indexes,
  canonical entry bytes, leaf hashes, the tree's right edge, tiles, the entries' insert and the
  commit, all timed; building the entries is not. For context, the floor: exactly the rows
  candor inserted (entry bytes computed beforehand) put into the same ``ledger_entries`` table
  of a second fresh store with the driver's plain ``executemany``, the same batches, each
  committed durably with candor's connection settings, and no Merkle work.
- **Inclusion proof ≤ 1 ms** (the mean; p50, p99 and the maximum in the notes) on a log of 10M
  leaves: ``merkle.inclusion_proof`` for random leaves against the latest signed head, each with
  a fresh ``TileNodes``, so that its tiles are read from the store as a request reads them (the
  store keeps the roots of the tile rows it hashed lately, by their bytes, across requests, as
  a long-running server does; its hit rate is in the notes).
  Checking each proof (``verify_inclusion``, the entry's leaf hash included) and the whole
  request path (``services.ledger.inclusion``: a read transaction, the head, the entry, the
  proof) are shown for context.
- **Full verify ≤ 60 s** of that log: ``services.ledger.verify``, which recomputes every leaf
  and node, checks them against the stored tiles and every signed head, and every stored record
  against the digest in its newest entry. It must find no problem. It runs as ``candor ledger
  verify`` does: the tree in one process and the records, in ranges of ids, in the others, one
  process per CPU (two here).

The log is realistic: 10M synthetic records about 1M subjects (``bench.rating``'s generator and
bulk writer: same record shapes, corrections included), then one entry per record appended the
way ingestion appends them — ``append_objects`` over the records as stored (read back, their
digests computed from their stored form), 100,000 records a durable transaction, a head signed
after every millionth entry. Its build rate is reported for context. It is built once under
``bench/work/ledger`` and reused while the schema of its tables, the hashing and this generator
are unchanged (other migrations are applied to it in place).
Every measured step runs in a fresh process (``bench.child``), which also gives its peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.child import Report, run_child
from bench.core import Area, Context, Result, Target, absolute, compared, number
from bench.ingest import _driver_connection
from bench.rating import TYPES, _bulk_connection, _draw, _write_records, _write_subjects
from candor.domain import merkle
from candor.domain.ledger import (
    OBJECT_COLUMNS,
    RECORD_ACCEPTED,
    RECORD_CORRECTION,
    Entry,
    object_digest,
)
from candor.services import ledger as ledger_service
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.services.setup import init_deployment
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import ledger as stored
from candor.store import open_store
from candor.store.tables import records as records_table

AREA_NAME = "ledger"
SOURCE = "bench"

# The append benchmark: entries, in transactions of ingestion's batch, about this many subjects.
APPEND_ENTRIES = 1_000_000
BATCH = Settings().ingest_batch_rows
APPEND_SUBJECTS = 100_000
# The log the proofs and verify run on.
LOG_RECORDS = 10_000_000
LOG_SUBJECTS = 1_000_000
BUILD_BATCH = 100_000  # records a transaction while building it
HEAD_EVERY = 1_000_000  # a signed head after this many entries
PROOFS = 2_000
PROOF_WARM_UP = 50
REQUESTS = 500  # of the whole request path, for context
# What a log of records takes on disk, per record: the records with their indexes, the entries
# with theirs, the tiles (about 3.1 KiB at 10M records, measured); with room for the WAL.
DISK_BYTES_PER_RECORD = 1_000

APPEND_TARGET = Target(">=", 100_000, "leaves/s")
PROOF_TARGET = Target("<=", 1, "ms (mean)")
VERIFY_TARGET = Target("<=", 60, "s")

APPEND = "ledger append, 1M entries → SQLite"
PROOF = "inclusion proof, 10M-leaf log (SQLite)"
VERIFY = "ledger verify, 10M entries / 10M records (SQLite)"

_ENTRY_COLUMNS = (
    "leaf_index",
    "kind",
    "object_table",
    "object_id",
    "subject_id",
    "data",
    "recorded_at",
)


def _settings(path: Path) -> Settings:
    return Settings.load(
        environ={}, database_url=f"sqlite:///{path}", secret_file=path.parent / "bench.secret"
    )


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.is_file())


# --- appending -----------------------------------------------------------------------------------


def _entries(start: int, stop: int, subjects: int, now: datetime) -> list[Entry]:
    """Entries ``start..stop`` as ingestion appends them: a record accepted, its digest."""
    return [
        Entry(
            RECORD_ACCEPTED,
            "records",
            i + 1,
            i % subjects + 1,
            hashlib.sha256(b"record %d" % i).hexdigest(),
            now,
        )
        for i in range(start, stop)
    ]


def _fresh_store(path: Path, subjects: int) -> str:
    """A new store at ``path`` (``init_deployment``) holding ``subjects`` subjects."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_sqlite(path)
    init_deployment(_settings(path))
    stamp = datetime(2026, 1, 1).isoformat(sep=" ", timespec="microseconds")
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO subjects (id, ref, kind, created_at) VALUES (?, ?, 'person', ?)",
                ((i, f"S{i:020d}", stamp) for i in range(1, subjects + 1)),
            )
    finally:
        conn.close()
    return f"sqlite:///{path}"


def append_step(
    *, database_url: str, entries: int, batch: int, subjects: int, report: Report
) -> dict[str, Any]:
    """``append`` of ``entries`` entries, a durable write transaction a batch; only the
    transactions are timed. Then checks the stored tree's root against the entries' own."""
    seconds: list[float] = []
    with open_store(database_url) as store:
        for start in range(0, entries, batch):
            now = datetime.now(UTC)
            chunk = _entries(start, min(start + batch, entries), subjects, now)
            began = time.perf_counter()
            with store.write() as conn:
                stored.append(conn, chunk, now)
            seconds.append(time.perf_counter() - began)
            report({"done": start + len(chunk)})
        with store.read() as conn:
            size = stored.size(conn)
            tree_root = stored.root_at(conn, size)
            expected = merkle.Frontier()
            for _, data in stored.entries_in_order(conn):
                expected.append(merkle.leaf_hash(data))
    if size != entries or tree_root != expected.root():
        raise AssertionError(f"after {entries:,} appends the stored tree is not the entries' own")
    return {"seconds": sum(seconds), "batches": len(seconds), "slowest_batch": max(seconds)}


def baseline_step(
    *, database_url: str, entries: int, batch: int, subjects: int, report: Report
) -> dict[str, Any]:
    """The floor: the same rows into the same table with plain ``executemany`` — the entry bytes
    computed beforehand, no Merkle work — a durable transaction a batch."""
    marks = ", ".join("?" * len(_ENTRY_COLUMNS))
    statement = f"INSERT INTO ledger_entries ({', '.join(_ENTRY_COLUMNS)}) VALUES ({marks})"
    seconds = 0.0
    with _driver_connection(database_url) as conn:
        for start in range(0, entries, batch):
            now = datetime.now(UTC)
            at = now.replace(tzinfo=None).isoformat(" ")  # what candor writes on SQLite
            chunk = _entries(start, min(start + batch, entries), subjects, now)
            rows = [
                (start + n, e.kind, e.table, e.object_id, e.subject_id, e.data(), at)
                for n, e in enumerate(chunk)
            ]
            began = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(statement, rows)
            conn.execute("COMMIT")
            seconds += time.perf_counter() - began
            report({"done": start + len(chunk)})
        (count,) = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()
    if count != entries:
        raise AssertionError(f"the baseline stored {count:,} of {entries:,} rows")
    return {"seconds": seconds}


def _append(ctx: Context, work: Path, entries: int = APPEND_ENTRIES) -> list[Result]:
    directory = work / "append"
    measured: dict[str, dict[str, Any]] = {}
    try:
        for name, step in (("candor", "append_step"), ("baseline", "baseline_step")):
            url = _fresh_store(directory / f"{name}.db", APPEND_SUBJECTS)
            label = "store.ledger.append" if name == "candor" else "raw executemany"
            measured[name] = _child(
                ctx,
                f"append {entries:,} entries — {label}",
                step,
                {
                    "database_url": url,
                    "entries": entries,
                    "batch": BATCH,
                    "subjects": APPEND_SUBJECTS,
                },
                total=entries,
            )
    finally:
        for name in ("candor", "baseline"):
            _remove_sqlite(directory / f"{name}.db")
    candor, baseline = measured["candor"], measured["baseline"]
    rate, floor = entries / candor["seconds"], entries / baseline["seconds"]
    ctx.details["append"] = {
        "entries": entries,
        "batch": BATCH,
        "candor": {**candor, "leaves_per_second": round(rate)},
        "raw_executemany": {**baseline, "rows_per_second": round(floor)},
    }
    ctx.say(f"ledger append: {number(rate)} leaves/s; raw executemany {number(floor)} rows/s")
    what = (
        f"{entries:,} record.accepted entries in {candor['batches']} durable transactions of "
        f"{BATCH:,} (ingestion's batch) into a fresh store: {candor['seconds']:.1f} s, slowest "
        f"transaction {candor['slowest_batch']:.2f} s; peak RSS {candor['peak_rss_mib']:,} MiB; "
        "the stored tree's root checked against the entries' own after"
    )
    return [
        absolute(
            AREA_NAME,
            APPEND,
            "candor store.ledger.append",
            rate,
            "leaves/s",
            target=APPEND_TARGET,
            notes=what,
        ),
        compared(
            AREA_NAME,
            APPEND,
            "append / raw executemany of the same rows",
            rate,
            "leaves/s",
            baseline="raw sqlite3 executemany into the same ledger_entries table, no Merkle work",
            baseline_value=floor,
            notes=f"context: the floor inserted the {entries:,} rows in "
            f"{baseline['seconds']:.1f} s, same batches and durable commits",
        ),
    ]


# --- the 10M-leaf log ----------------------------------------------------------------------------

# Bump when what the log holds changes: cached logs of another version are rebuilt.
GENERATOR_VERSION = 2
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Log:
    """A generated store: ``records`` records, one ledger entry each, signed heads."""

    path: Path
    records: int
    subjects: int
    leaves: int
    head_size: int  # of the latest signed head
    records_seconds: float  # to generate and write the records
    ledger_seconds: float  # to append their entries (append_objects)
    disk_bytes: int
    built: str  # when (ISO 8601); an earlier run's log is reused
    built_now: bool = False

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def secret_file(self) -> Path:
        return self.path.parent / "bench.secret"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["path"] = str(self.path)
        return doc


# The tables a log is made of and verify reads: a migration that changes any of them makes a
# cached log stale; one that changes only others is applied to it in place.
LOG_TABLES = (
    "sources",
    "source_mandates",
    "subjects",
    "identifiers",
    "ingestions",
    "ingest_batches",
    "records",
    "rulebooks",
    "listings",
    "ledger_entries",
    "ledger_tiles",
    "ledger_heads",
)


def _schema_of(path: Path) -> list[tuple[str, str, str]]:
    """The SQL of ``LOG_TABLES`` and their indexes in the SQLite store at ``path``."""
    marks = ", ".join("?" * len(LOG_TABLES))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT type, name, sql FROM sqlite_master "
            f"WHERE sql IS NOT NULL AND tbl_name IN ({marks}) ORDER BY name",
            LOG_TABLES,
        ).fetchall()
    finally:
        conn.close()


def _fingerprint() -> str:
    """SHA-256 of what a fresh store's ``LOG_TABLES`` look like, and of the ledger's hashing of
    a sample entry about a sample record: a cached log made under others is stale."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "schema.db"
        init_deployment(_settings(path))
        schema = _schema_of(path)
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    sample = dict.fromkeys(OBJECT_COLUMNS["records"], "x") | {"id": 1, "attributes": {"a": 1}}
    entry = Entry(RECORD_ACCEPTED, "records", 1, 1, object_digest("records", sample), at)
    doc = {
        "schema": schema,
        "leaf": merkle.leaf_hash(entry.data()).hex(),
        "tile_height": stored.TILE_HEIGHT,
    }
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def _record_kind(row: Any) -> str:
    """The kind ingestion gives a record's entry."""
    return RECORD_CORRECTION if row["refers_to"] is not None else RECORD_ACCEPTED


def build_step(
    *, path: str, records: int, subjects: int, seed: int, report: Report
) -> dict[str, Any]:
    """Generate the log: ``records`` records written in bulk, then their entries appended."""
    db = Path(path)
    settings = _settings(db)
    init_deployment(settings)
    registry = load_registry(settings)
    secret = load_secret(settings)
    began = time.perf_counter()
    with open_store(settings.database_url) as store:
        source_id = add_source(store, registry, SOURCE, TYPES, "synthetic").source.id
    report({"stage": "drawing records"})
    rng = np.random.default_rng(seed)
    drawn = _draw(rng, records, subjects)
    report({"stage": "writing records"})
    conn = _bulk_connection(db)
    try:
        _write_subjects(conn, subjects, secret.identifier_hasher().key_id, seed)
        _write_records(conn, rng, drawn, 1, source_id)
    finally:
        conn.close()
    del drawn
    records_seconds = time.perf_counter() - began
    report({"stage": "appending entries", "done": 0})
    began = time.perf_counter()
    with open_store(settings.database_url) as store:
        for start in range(0, records, BUILD_BATCH):
            stop = min(start + BUILD_BATCH, records)
            with store.write() as conn:
                stored.append_objects(
                    conn,
                    "records",
                    records_table.c.id.between(start + 1, stop),
                    _record_kind,
                    datetime.now(UTC),
                )
            if stop % HEAD_EVERY == 0 or stop == records:
                ledger_service.head(store, secret)
            report({"stage": "appending entries", "done": stop})
        ledger_seconds = time.perf_counter() - began
        with store.read() as conn:
            leaves = stored.size(conn)
            latest = stored.latest_head(conn)
    assert latest is not None
    checkpoint = sqlite3.connect(db)
    try:
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        checkpoint.close()
    return {
        "leaves": leaves,
        "head_size": latest.size,
        "records_seconds": records_seconds,
        "ledger_seconds": ledger_seconds,
    }


def ledger_log(
    ctx: Context, work: Path, *, records: int = LOG_RECORDS, subjects: int = LOG_SUBJECTS
) -> Log | str:
    """The log of ``records`` records, built once under ``work`` and then reused; or why it
    cannot be built here (a line for the results table)."""
    directory = work / f"log-r{records}-s{subjects}"
    path = directory / "candor.db"
    parameters = {
        "records": records,
        "subjects": subjects,
        "seed": 0,
        "generator": GENERATOR_VERSION,
        "build_batch": BUILD_BATCH,
        "head_every": HEAD_EVERY,
        "fingerprint": _fingerprint(),
    }
    try:
        doc = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    if doc.get("parameters") == parameters and path.is_file():
        init_deployment(_settings(path))  # migrations that leave LOG_TABLES as they were
        return Log(path, **doc["log"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    need, free = records * DISK_BYTES_PER_RECORD, shutil.disk_usage(directory).free
    if free < need:
        return f"skipped: the log needs ~{need >> 30} GiB of disk, {free >> 30} GiB free"
    ctx.say(f"ledger: building a log of {records:,} records and their entries (cached after)")
    built = _child(
        ctx,
        f"building the {_size(records)}-leaf log",
        "build_step",
        {"path": str(path), "records": records, "subjects": subjects, "seed": 0},
        total=records,
    )
    log = Log(
        path,
        records,
        subjects,
        built["leaves"],
        built["head_size"],
        built["records_seconds"],
        built["ledger_seconds"],
        _store_bytes(path),
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    kept = {k: v for k, v in log.to_json().items() if k not in ("path", "built_now")}
    (directory / MANIFEST).write_text(
        json.dumps({"parameters": parameters, "log": kept}, indent=2), encoding="utf-8"
    )
    return replace(log, built_now=True)


# --- proofs --------------------------------------------------------------------------------------


def proof_step(
    *,
    database_url: str,
    secret_file: str,
    size: int,
    leaves: list[int],
    warm_up: int,
    requests: int,
    report: Report,
) -> dict[str, Any]:
    """Milliseconds of each inclusion proof (a fresh ``TileNodes`` each) and of checking it; then
    of the whole request path for the first ``requests`` leaves."""
    settings = Settings.load(environ={}, database_url=database_url, secret_file=Path(secret_file))
    proving, checking, tiles = [], [], []
    with open_store(database_url) as store:
        with store.read() as conn:
            head = stored.head_at(conn, size)
            assert head is not None, f"no signed head of size {size}"
            for n, leaf in enumerate(leaves):
                began = time.perf_counter()
                nodes = stored.TileNodes(conn)
                proof = merkle.inclusion_proof(leaf, size, nodes.subtree())
                proved = time.perf_counter()
                data = stored.entry_data(conn, leaf)
                assert data is not None
                checked = time.perf_counter()
                ok = merkle.verify_inclusion(merkle.leaf_hash(data), leaf, size, proof, head.root)
                done = time.perf_counter()
                if not ok:
                    raise AssertionError(f"the proof of leaf {leaf} does not verify")
                if n >= warm_up:
                    proving.append((proved - began) * 1000)
                    checking.append((done - checked) * 1000)
                    tiles.append(len(nodes._tiles))  # the tiles this proof read
                if n % 100 == 0:
                    report({"done": n})
        secret = load_secret(settings)
        whole = []
        for n, leaf in enumerate(leaves[: warm_up + requests]):
            began = time.perf_counter()
            ledger_service.inclusion(store, secret, leaf, size)
            if n >= warm_up:
                whole.append((time.perf_counter() - began) * 1000)
    memo = stored._wide_row_root.cache_info()
    return {
        "proof_ms": proving,
        "check_ms": checking,
        "tiles": tiles,
        "request_ms": whole,
        "memo": {"hits": memo.hits, "misses": memo.misses, "kept": memo.currsize},
    }


def _proofs(ctx: Context, log: Log, proofs: int = PROOFS) -> list[Result]:
    size = log.head_size
    chosen = np.random.default_rng(11).integers(0, size, proofs + PROOF_WARM_UP)
    done = _child(
        ctx,
        f"{proofs:,} inclusion proofs in a {_size(size)}-leaf log",
        "proof_step",
        {
            "database_url": log.url,
            "secret_file": str(log.secret_file),
            "size": size,
            "leaves": [int(i) for i in chosen],
            "warm_up": PROOF_WARM_UP,
            "requests": min(REQUESTS, proofs),
        },
        total=proofs + PROOF_WARM_UP,
    )
    proof, check = np.array(done["proof_ms"]), np.array(done["check_ms"])
    request = np.array(done["request_ms"])

    def spread(ms: np.ndarray) -> dict[str, float]:
        return {
            "mean": round(float(ms.mean()), 4),
            "p50": round(float(np.percentile(ms, 50)), 4),
            "p99": round(float(np.percentile(ms, 99)), 4),
            "max": round(float(ms.max()), 4),
        }

    ctx.details["proofs"] = {
        "tree_size": size,
        "proofs": len(proof),
        "warm_up": PROOF_WARM_UP,
        "proof_ms": spread(proof),
        "check_ms": spread(check),
        "request_ms": spread(request),
        "tiles_read": {"mean": round(float(np.mean(done["tiles"])), 2), "max": max(done["tiles"])},
        "row_roots_memo": done["memo"],
        "peak_rss_mib": done["peak_rss_mib"],
    }
    ctx.say(
        f"inclusion proof, {_size(size)} leaves: mean {proof.mean():.3f} ms, "
        f"p99 {np.percentile(proof, 99):.3f} ms; check {check.mean() * 1000:.0f} µs"
    )
    return [
        absolute(
            AREA_NAME,
            PROOF,
            "merkle.inclusion_proof, fresh TileNodes (mean)",
            float(proof.mean()),
            "ms",
            target=PROOF_TARGET,
            notes=f"{len(proof):,} random leaves of the head of size {size:,}, one after "
            f"another in one read transaction, after {PROOF_WARM_UP} warm-up proofs; each "
            f"read {np.mean(done['tiles']):.1f} tiles on average (the store's memo of hashed "
            f"tile rows, kept by their bytes: {_hit_rate(done['memo'])} of look-ups hit); p50 "
            f"{np.percentile(proof, 50):.3f} ms, p99 {np.percentile(proof, 99):.3f} ms, max "
            f"{proof.max():.3f} ms",
        ),
        absolute(
            AREA_NAME,
            PROOF,
            "verify_inclusion of each proof, leaf hash included (mean)",
            float(check.mean() * 1000),
            "µs",
            notes=f"context: what a client spends checking a proof; p99 "
            f"{np.percentile(check, 99) * 1000:.0f} µs",
        ),
        absolute(
            AREA_NAME,
            PROOF,
            "services.ledger.inclusion, whole request path (mean)",
            float(request.mean()),
            "ms",
            notes=f"context: {len(request):,} of the leaves, each in its own read transaction "
            f"(the signed head, the entry, the proof); p99 {np.percentile(request, 99):.3f} ms",
        ),
    ]


def _hit_rate(memo: dict[str, int]) -> str:
    asked = memo["hits"] + memo["misses"]
    return f"{memo['hits'] / asked:.0%}" if asked else "none"


# --- verify --------------------------------------------------------------------------------------


def verify_step(*, database_url: str, secret_file: str, report: Report) -> dict[str, Any]:
    """``services.ledger.verify`` once, timed; when each of its phases last reported."""
    settings = Settings.load(environ={}, database_url=database_url, secret_file=Path(secret_file))
    secret = load_secret(settings)
    last: dict[str, float] = {}
    with open_store(database_url) as store:
        began = time.perf_counter()

        def progress(what: str, done: int) -> None:
            last[what] = time.perf_counter() - began
            if done % 500_000 == 0:
                report({"stage": what, "done": done})

        result = ledger_service.verify(store, secret, on_progress=progress)
        seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "phases": last,
        "processes": result.processes,
        "result": result.to_json(),
    }


def _verify(ctx: Context, log: Log) -> list[Result]:
    done = _child(
        ctx,
        f"verify {_size(log.leaves)} entries",
        "verify_step",
        {"database_url": log.url, "secret_file": str(log.secret_file)},
        total=log.leaves + log.records,
    )
    result = done["result"]
    ctx.details["verify"] = {
        "seconds": round(done["seconds"], 2),
        "phases": {k: round(v, 2) for k, v in done["phases"].items()},
        "processes": done["processes"],
        "result": result,
        "peak_rss_mib": done["peak_rss_mib"],
    }
    if not result["ok"] or result["entries"] != log.leaves:
        raise AssertionError(f"verify did not pass on the generated log: {result}")
    if result["objects"].get("records") != log.records:
        raise AssertionError(f"verify checked {result['objects']} of {log.records:,} records")
    tree, objects = done["phases"].get("entries"), done["phases"].get("records")
    split = ""
    if tree is not None and objects is not None:
        split = (
            f"; in {done['processes']} process(es): the tree's part ended after {tree:.1f} s, "
            f"the records' after {objects:.1f} s"
        )
    ctx.say(f"ledger verify, {_size(log.leaves)} entries: {done['seconds']:.1f} s{split}")
    return [
        absolute(
            AREA_NAME,
            VERIFY,
            "services.ledger.verify",
            done["seconds"],
            "s",
            target=VERIFY_TARGET,
            notes=f"ok: {result['entries']:,} entries and {result['heads']} signed heads "
            f"recomputed and checked, {log.records:,} records checked against their newest "
            f"entries{split}; peak RSS of the calling process {done['peak_rss_mib']:,} MiB",
        )
    ]


def _log_rows(ctx: Context, log: Log) -> list[Result]:
    ctx.details["log"] = log.to_json()
    when = "built in this run" if log.built_now else f"built {log.built}, cached"
    return [
        absolute(
            AREA_NAME,
            f"build the {_size(log.leaves)}-leaf log (SQLite)",
            "append_objects over stored records",
            log.leaves / log.ledger_seconds,
            "leaves/s",
            notes=f"context ({when}): {log.records:,} records read back and hashed, their "
            f"entries appended {BUILD_BATCH:,} a durable transaction, a head signed every "
            f"{HEAD_EVERY:,} — {log.ledger_seconds:.0f} s; the records themselves were "
            f"generated and bulk-written in {log.records_seconds:.0f} s; the store is "
            f"{log.disk_bytes / (1 << 30):.1f} GiB",
        )
    ]


# --- the area ------------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n:,}"


def _child(
    ctx: Context, label: str, target: str, kwargs: dict[str, Any], total: int | None = None
) -> dict[str, Any]:
    task = ctx.progress.add_task(f"ledger: {label}", total=total)

    def progress(doc: dict[str, Any]) -> None:
        if "stage" in doc:
            ctx.progress.update(task, description=f"ledger: {label} — {doc['stage']}")
        if "done" in doc:
            ctx.progress.update(task, completed=doc["done"])

    done = run_child(f"bench.ledger:{target}", kwargs, progress)
    ctx.progress.update(task, completed=total or 1, total=total or 1)
    return {**done.result, "peak_rss_mib": round(done.peak_rss_mib)}


def run(ctx: Context) -> list[Result]:
    work = ctx.work / AREA_NAME
    work.mkdir(parents=True, exist_ok=True)
    rows = ctx.guarded(AREA_NAME, APPEND, lambda: _append(ctx, work))
    made: list[Log | str] = []
    rows += ctx.guarded(AREA_NAME, "build the 10M-leaf log", lambda: _built(ctx, work, made))
    log = made[0] if made else "skipped: the log could not be built"
    for name, part in ((PROOF, _proofs), (VERIFY, _verify)):
        if isinstance(log, str):
            rows.append(absolute(AREA_NAME, name, "candor", None, "", notes=log))
        else:
            rows += ctx.guarded(AREA_NAME, name, lambda p=part, g=log: p(ctx, g))
    return rows


def _built(ctx: Context, work: Path, made: list[Log | str]) -> list[Result]:
    log = ledger_log(ctx, work)
    made.append(log)
    return [] if isinstance(log, str) else _log_rows(ctx, log)


AREA = Area(
    AREA_NAME,
    "ledger append rate (1M entries) against raw inserts; inclusion proofs and a full verify "
    "on a 10M-leaf log of 10M records",
    run,
)

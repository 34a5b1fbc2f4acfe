"""Ingestion: records/s of ``ingest_file`` against raw driver inserts of the same rows.

The input is the demo jurisdiction as one ~1M-row CSV (``bench.inputs``), ingested for one
source whose mandate is every record type in the file. candor's figure is the wall time of
``ingest_file`` end to end — read, validate, hash identifiers, resolve subjects, write, commit
each batch durably — over every row read (the file's damaged identifiers are rejected, as they
would be in life). It runs in a fresh process, so that its peak RSS is its own.

The baseline is the floor any ingester has to pay: exactly the record rows candor inserted,
read back from its store in insertion order, inserted with the driver's plain ``executemany``
into a second fresh store with the same schema (made by ``init_deployment``: same indexes,
constraints, foreign keys; the parent rows copied in first so that the foreign keys hold), in
batches of the same size, each committed durably with candor's own connection settings. On
PostgreSQL, raw ``COPY`` of the same tuples is measured too: the stronger floor. For context,
the SQLite rows also go into a bare table (no index, constraint or foreign key): the difference
is what the schema itself costs.

Targets (the issue): at least 100,000 records/s on SQLite with full validation and hashing,
i.e. at least 0.1 of raw ``executemany``; on PostgreSQL at least 0.1 of raw ``executemany``.
Memory should not grow with the file: the 1M file's records repeated three times (six with
``--big``) may take at most 1.25 times the 1M file's peak RSS (our threshold for "flat").
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.child import Report, run_child
from bench.core import REPO_ROOT, TODAY, Area, Context, Result, Target, absolute, compared, number
from bench.inputs import RecordFile, jurisdiction_csv
from bench.pg import libpq_url, schema_url, scratch_schemas
from candor.services.ingestion import Progress, ingest_file
from candor.services.registry import load_registry
from candor.services.setup import init_deployment
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store, open_store
from candor.store.records import INSERT_COLUMNS

AREA_NAME = "ingest"
SOURCE = "bench"
# Rows the baselines insert per committed transaction: candor's default batch.
BATCH_ROWS = Settings().ingest_batch_rows
# Tables whose rows records point at, in foreign-key order, copied into a baseline store.
PARENT_TABLES = (
    "sources",
    "source_mandates",
    "subjects",
    "identifiers",
    "ingestions",
    "ingest_batches",
)
# The 1M file's records repeated, to see whether memory grows with the file: ×3 always,
# ×6 with --big (another ~3 minutes).
REPEATS = (3,)
BIG_REPEATS = (6,)

RATIO_TARGET = Target(">=", 0.1, "of raw")
SPEED_TARGET = Target(">=", 100_000, "records/s")
MEMORY_TARGET = Target("<=", 1.25, "× the 1M file's")
PG_SKIPPED = "skipped: set CANDOR_BENCH_PG_URL (or CANDOR_TEST_PG_URL) to measure PostgreSQL"


@dataclass(frozen=True)
class Ingested:
    """One measured ``ingest_file`` run."""

    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    seconds: float
    rss_before_mib: float
    peak_rss_mib: float
    read_ahead_mib: float  # of the file, consumed by the reader when the first batch committed
    file_mib: float

    @property
    def per_second(self) -> float:
        return self.rows_read / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {**_rounded(asdict(self)), "records_per_second": round(self.per_second)}

    def read_ahead(self) -> str:
        return (
            f"the reader had consumed {self.read_ahead_mib:.0f} of the file's "
            f"{self.file_mib:.0f} MiB when the first batch committed"
        )

    def said(self) -> str:
        return (
            f"{self.rows_read:,} rows read ({self.accepted:,} accepted, {self.rejected:,} "
            f"rejected) in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class Inserted:
    """One measured baseline: rows inserted raw."""

    name: str
    rows: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {**_rounded(asdict(self)), "rows_per_second": round(self.per_second)}


def _rounded(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in doc.items()}


# --- the measured step, run in a child process (bench.child) -------------------------------


def ingest_step(
    *,
    database_url: str,
    secret_file: str,
    path: str,
    source: str,
    today: str,
    rejects: str,
    report: Report,
) -> dict[str, Any]:
    """``ingest_file`` once, timed from call to return; progress after each committed batch."""
    settings = Settings.load(environ={}, database_url=database_url, secret_file=Path(secret_file))
    registry = load_registry(settings)

    first_position: list[int] = []

    def progress(p: Progress) -> None:
        if not first_position:
            first_position.append(p.position)
        report({"rows_read": p.rows_read})

    with open_store(database_url) as store:
        started = time.perf_counter()
        result = ingest_file(
            store,
            settings,
            registry,
            Path(path),
            source,
            rejects_path=Path(rejects),
            today=date.fromisoformat(today),
            on_progress=progress,
        )
        seconds = time.perf_counter() - started
    return {
        "rows_read": result.rows_read,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "duplicates": result.duplicates,
        "seconds": seconds,
        # How far into the file the reader was when the first batch committed: what it holds
        # in memory ahead of the writer.
        "read_ahead_bytes": first_position[0] if first_position else 0,
        "file_bytes": Path(path).stat().st_size,
    }


# --- the area ---------------------------------------------------------------------------------


SQLITE = "ingest 1M-row CSV → SQLite"
POSTGRESQL = "ingest 1M-row CSV → PostgreSQL"
MEMORY = "ingest memory (SQLite)"


def run(ctx: Context) -> list[Result]:
    work = ctx.work / AREA_NAME
    work.mkdir(parents=True, exist_ok=True)
    one = _input(ctx, copies=1)
    ctx.details["input"] = _shown(one)
    ctx.details["batch_rows"] = BATCH_ROWS
    measured: dict[str, Ingested] = {}
    return [
        *ctx.guarded(AREA_NAME, SQLITE, lambda: _sqlite(ctx, work, one, measured)),
        *ctx.guarded(AREA_NAME, POSTGRESQL, lambda: _postgresql(ctx, work, one)),
        *ctx.guarded(AREA_NAME, MEMORY, lambda: _memory(ctx, work, one, measured.get("1x"))),
    ]


def _shown(made: RecordFile) -> dict[str, Any]:
    """A record file as results.json shows it: its path relative to the repository."""
    doc = made.to_json()
    doc["path"] = (
        str(made.path.relative_to(REPO_ROOT))
        if made.path.is_relative_to(REPO_ROOT)
        else str(made.path)
    )
    return doc


def _input(ctx: Context, copies: int) -> RecordFile:
    task = ctx.progress.add_task(f"ingest: input ×{copies}", total=None)

    def stage(text: str, done: int, steps: int) -> None:
        ctx.progress.update(
            task, description=f"ingest: input — {text}", completed=done, total=steps
        )

    made = jurisdiction_csv(ctx.work, today=TODAY, copies=copies, on_stage=stage)
    ctx.progress.update(
        task, description=f"ingest: input ×{copies} ({made.rows:,} rows)", completed=1, total=1
    )
    return made


def _sqlite(
    ctx: Context, work: Path, one: RecordFile, measured: dict[str, Ingested]
) -> list[Result]:
    directory = work / "sqlite"
    candor_db, raw_db, bare_db = (directory / f"{n}.db" for n in ("candor", "raw", "bare"))
    try:
        ingested = _ingest(ctx, "SQLite", _sqlite_url(candor_db), work, one)
        rows = _read_back_sqlite(candor_db)
        raw = _raw_sqlite(ctx, candor_db, raw_db, work, rows)
        bare = _bare_sqlite(ctx, bare_db, rows)
    finally:
        for db in (candor_db, raw_db, bare_db):
            _remove_sqlite(db)
    measured["1x"] = ingested
    ctx.details["sqlite"] = {
        "candor": ingested.to_json(),
        "raw_executemany": raw.to_json(),
        "raw_executemany_bare_table": bare.to_json(),
    }
    benchmark = SQLITE
    notes = f"{ingested.said()}; raw: {raw.rows:,} rows in {raw.seconds:.1f} s"
    return [
        compared(
            AREA_NAME,
            benchmark,
            "candor ingest_file / raw",
            ingested.per_second,
            "records/s",
            baseline=raw.name,
            baseline_value=raw.per_second,
            target=RATIO_TARGET,
            notes=notes,
        ),
        absolute(
            AREA_NAME,
            benchmark,
            "candor ingest_file",
            ingested.per_second,
            "records/s",
            target=SPEED_TARGET,
            notes="full validation, keyed hashing, subject resolution, a durable commit per "
            f"{BATCH_ROWS:,}-row batch",
        ),
        compared(
            AREA_NAME,
            benchmark,
            "raw executemany: candor's schema / bare table",
            raw.per_second,
            "records/s",
            baseline=bare.name,
            baseline_value=bare.per_second,
            notes="context: what the records table's indexes, constraints and foreign keys cost "
            "a plain insert on this machine",
        ),
    ]


def _postgresql(ctx: Context, work: Path, one: RecordFile) -> list[Result]:
    benchmark = POSTGRESQL
    url = ctx.pg_url
    if not url:
        return [
            absolute(
                AREA_NAME,
                benchmark,
                "candor ingest_file / raw",
                None,
                "records/s",
                notes=PG_SKIPPED,
            ),
        ]
    with scratch_schemas(url, 3) as (candor, by_executemany, by_copy):
        ingested = _ingest(ctx, "PostgreSQL", schema_url(url, candor), work, one)
        rows = _read_back_pg(url, candor)
        em = _raw_pg(ctx, url, candor, by_executemany, rows, copy=False)
        cp = _raw_pg(ctx, url, candor, by_copy, rows, copy=True)
    ctx.details["postgresql"] = {
        "candor": ingested.to_json(),
        "raw_executemany": em.to_json(),
        "raw_copy": cp.to_json(),
    }
    return [
        compared(
            AREA_NAME,
            benchmark,
            "candor ingest_file / raw",
            ingested.per_second,
            "records/s",
            baseline=em.name,
            baseline_value=em.per_second,
            target=RATIO_TARGET,
            notes=f"{ingested.said()}; raw: {em.rows:,} rows in {em.seconds:.1f} s",
        ),
        compared(
            AREA_NAME,
            benchmark,
            "candor ingest_file / COPY",
            ingested.per_second,
            "records/s",
            baseline=cp.name,
            baseline_value=cp.per_second,
            notes=f"COPY is the stronger floor: {cp.rows:,} rows in {cp.seconds:.1f} s",
        ),
    ]


def _memory(ctx: Context, work: Path, one: RecordFile, single: Ingested | None) -> list[Result]:
    """Peak RSS of ingesting the 1M file, and of the same records repeated (more with --big)."""
    rows = []
    if single is not None:
        rows.append(
            absolute(
                AREA_NAME,
                MEMORY,
                f"peak RSS, {_millions(one.rows)}-row file",
                single.peak_rss_mib,
                "MiB",
                notes=f"{single.rss_before_mib:.0f} MiB of it before ingest_file began (imports); "
                + single.read_ahead(),
            )
        )
    for copies in (*REPEATS, *(BIG_REPEATS if ctx.big else ())):
        bigger = _input(ctx, copies=copies)
        db = work / f"sqlite-x{copies}" / "candor.db"
        try:
            ingested = _ingest(ctx, f"SQLite, ×{copies} file", _sqlite_url(db), work, bigger)
        finally:
            _remove_sqlite(db)
        ctx.details[f"sqlite_x{copies}"] = {"input": _shown(bigger), "candor": ingested.to_json()}
        rows.append(
            compared(
                AREA_NAME,
                MEMORY,
                f"peak RSS, {_millions(bigger.rows)}-row file",
                ingested.peak_rss_mib,
                "MiB",
                baseline=f"peak RSS, {_millions(one.rows)}-row file",
                baseline_value=single.peak_rss_mib if single else None,
                target=MEMORY_TARGET,
                notes=f"the 1M file's records ×{copies} (same subjects, new ids): "
                f"{ingested.said()}, {number(ingested.per_second)} records/s; "
                + ingested.read_ahead(),
            )
        )
    return rows


# --- candor's run -------------------------------------------------------------------------------


def _ingest(ctx: Context, engine: str, url: str, work: Path, made: RecordFile) -> Ingested:
    """A fresh store at ``url``, the source registered, then ``ingest_file`` in a child."""
    settings = Settings.load(environ={}, database_url=url, secret_file=work / "bench.secret")
    init_deployment(settings)
    with open_store(url) as store:
        add_source(store, load_registry(settings), SOURCE, made.record_types, "benchmark input")
    task = ctx.progress.add_task(f"ingest: {engine} — candor ingest_file", total=made.rows)

    def progress(doc: dict[str, Any]) -> None:
        ctx.progress.update(task, completed=doc["rows_read"])

    done = run_child(
        "bench.ingest:ingest_step",
        {
            "database_url": url,
            "secret_file": str(settings.secret_file),
            "path": str(made.path),
            "source": SOURCE,
            "today": TODAY.isoformat(),
            "rejects": str(work / "rejects.csv"),
        },
        progress,
    )
    r = done.result
    ingested = Ingested(
        r["rows_read"],
        r["accepted"],
        r["rejected"],
        r["duplicates"],
        r["seconds"],
        done.rss_before_mib,
        done.peak_rss_mib,
        r["read_ahead_bytes"] / (1 << 20),
        r["file_bytes"] / (1 << 20),
    )
    ctx.progress.update(
        task,
        completed=made.rows,
        description=f"ingest: {engine} — candor {number(ingested.per_second)} records/s",
    )
    ctx.say(
        f"{engine}: candor ingest_file {number(ingested.per_second)} records/s — "
        f"{ingested.said()}, peak RSS {ingested.peak_rss_mib:.0f} MiB"
    )
    return ingested


# --- SQLite baseline ----------------------------------------------------------------------------


def _sqlite_url(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_sqlite(path)
    return f"sqlite:///{path}"


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _columns() -> str:
    return ", ".join(f'"{c}"' for c in INSERT_COLUMNS)


def _read_back_sqlite(db: Path) -> list[tuple[Any, ...]]:
    """The record tuples candor inserted, as stored (dates and JSON as text), in id order."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {_columns()} FROM records ORDER BY id").fetchall()
    finally:
        conn.close()


@contextmanager
def _driver_connection(url: str) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection opened by candor's own engine, so that it has exactly the
    PRAGMAs candor's store sets (WAL, synchronous=FULL, foreign keys, cache size)."""
    store = Store(url)
    pooled = store.engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert isinstance(conn, sqlite3.Connection)
        yield conn
    finally:
        pooled.close()
        store.close()


def _executemany(
    ctx: Context, conn: sqlite3.Connection, label: str, rows: Sequence[tuple[Any, ...]]
) -> float:
    """Seconds to insert ``rows`` into ``records``: executemany, one durable commit a batch."""
    marks = ", ".join("?" * len(INSERT_COLUMNS))
    statement = f"INSERT INTO records ({_columns()}) VALUES ({marks})"

    def insert(chunk: Sequence[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(statement, chunk)
        conn.execute("COMMIT")

    seconds = _timed_batches(ctx, label, rows, insert)
    (stored,) = conn.execute("SELECT count(*) FROM records").fetchone()
    assert stored == len(rows), f"{label}: stored {stored} of {len(rows)} rows"
    return seconds


def _raw_sqlite(
    ctx: Context, candor_db: Path, raw_db: Path, work: Path, rows: Sequence[tuple[Any, ...]]
) -> Inserted:
    """The baseline: candor's schema (made by init_deployment), its parent rows copied in."""
    url = _sqlite_url(raw_db)
    init_deployment(Settings.load(environ={}, database_url=url, secret_file=work / "bench.secret"))
    with _driver_connection(url) as conn:
        conn.execute("ATTACH DATABASE ? AS candor", (str(candor_db),))
        conn.execute("BEGIN IMMEDIATE")
        for table in PARENT_TABLES:
            conn.execute(f'INSERT INTO main."{table}" SELECT * FROM candor."{table}"')
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE candor")
        seconds = _executemany(ctx, conn, "SQLite — raw executemany", rows)
    return Inserted("raw sqlite3 executemany", len(rows), seconds)


def _bare_sqlite(ctx: Context, bare_db: Path, rows: Sequence[tuple[Any, ...]]) -> Inserted:
    """For context: the same inserts into a table with no index, constraint or foreign key."""
    with _driver_connection(_sqlite_url(bare_db)) as conn:
        conn.execute(f"CREATE TABLE records (id INTEGER PRIMARY KEY, {_columns()})")
        seconds = _executemany(ctx, conn, "SQLite — raw executemany, bare table", rows)
    return Inserted("raw executemany into a bare table", len(rows), seconds)


def _batches(rows: Sequence[tuple[Any, ...]]) -> Iterator[Sequence[tuple[Any, ...]]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start : start + BATCH_ROWS]


def _timed_batches(
    ctx: Context,
    label: str,
    rows: Sequence[tuple[Any, ...]],
    insert: Callable[[Sequence[tuple[Any, ...]]], None],
) -> float:
    """Seconds to ``insert`` every batch of ``rows``; progress is updated between batches."""
    task = ctx.progress.add_task(f"ingest: {label}", total=len(rows))
    seconds = 0.0
    for chunk in _batches(rows):
        started = time.perf_counter()
        insert(chunk)
        seconds += time.perf_counter() - started
        ctx.progress.advance(task, len(chunk))
    speed = number(len(rows) / seconds)
    ctx.progress.update(task, description=f"ingest: {label} {speed} rows/s")
    ctx.say(f"{label}: {speed} rows/s — {len(rows):,} rows in {seconds:.1f} s")
    return seconds


# --- PostgreSQL baselines -------------------------------------------------------------------------


def _read_back_pg(url: str, schema: str) -> list[tuple[Any, ...]]:
    """The record tuples candor inserted, dates and JSON as text (as candor sends them)."""
    text = {"occurred_on", "decided_on", "attributes"}
    columns = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c)) if c in text else sql.Identifier(c)
        for c in INSERT_COLUMNS
    )
    query = sql.SQL("SELECT {} FROM {}.records ORDER BY id").format(columns, sql.Identifier(schema))
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(query).fetchall()


def _raw_pg(
    ctx: Context,
    url: str,
    candor: str,
    schema: str,
    rows: Sequence[tuple[Any, ...]],
    *,
    copy: bool,
) -> Inserted:
    store_url = schema_url(url, schema)
    init_deployment(
        Settings.load(
            environ={}, database_url=store_url, secret_file=ctx.work / AREA_NAME / "bench.secret"
        )
    )
    with psycopg.connect(libpq_url(url)) as admin, admin.transaction():
        for table in PARENT_TABLES:
            admin.execute(
                sql.SQL("INSERT INTO {}.{} SELECT * FROM {}.{}").format(
                    sql.Identifier(schema),
                    sql.Identifier(table),
                    sql.Identifier(candor),
                    sql.Identifier(table),
                )
            )
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in INSERT_COLUMNS)
    with psycopg.connect(libpq_url(store_url), autocommit=True) as conn:
        cursor = conn.cursor()
        if copy:
            statement = sql.SQL("COPY records ({}) FROM STDIN").format(columns)

            def insert(chunk: Sequence[tuple[Any, ...]]) -> None:
                with conn.transaction(), cursor.copy(statement) as out:
                    for row in chunk:
                        out.write_row(row)

        else:
            statement = sql.SQL("INSERT INTO records ({}) VALUES ({})").format(
                columns, sql.SQL(", ").join([sql.Placeholder()] * len(INSERT_COLUMNS))
            )

            def insert(chunk: Sequence[tuple[Any, ...]]) -> None:
                with conn.transaction():
                    cursor.executemany(statement, chunk)

        name = "raw psycopg COPY" if copy else "raw psycopg executemany"
        seconds = _timed_batches(ctx, f"PostgreSQL — {name}", rows, insert)
        stored = conn.execute("SELECT count(*) FROM records").fetchone()
    assert stored is not None and stored[0] == len(rows), f"{name} stored {stored} of {len(rows)}"
    return Inserted(name, len(rows), seconds)


def _millions(rows: int) -> str:
    return f"{rows / 1e6:.0f}M" if rows >= 1_000_000 else f"{rows:,}"


AREA = Area(
    AREA_NAME,
    "records/s of ingest_file from a 1M-row CSV against raw inserts of the same rows; peak RSS",
    run,
)

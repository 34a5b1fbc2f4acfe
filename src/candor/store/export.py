"""Read records, subjects, ratings and listings out of the store as Arrow tables, for the batch
engine.

Records are read through the store's columnar mirror where it has one (``store.mirror``): only
records newer than the mirror's watermark come out of the store, the rest are memory-mapped.

How rows leave the store:
- PostgreSQL: the ADBC driver, which moves rows straight into Arrow buffers, without a Python
  object per value (pandas' ``read_sql`` builds one per value, which is most of its time).
- SQLite: Python's own ``sqlite3``, on a connection of the store's pool. ADBC's SQLite driver
  links a second copy of SQLite, and two copies of SQLite in one process must never open the
  same database: closing a file releases every POSIX lock the process holds on it, including
  the other copy's, which lets another writer in and can corrupt the database
  (https://www.sqlite.org/howtocorrupt.html, 2.2.1). A catch-up of many records, where ADBC
  is three times faster, runs ADBC in a child process, which has locks of its own.

Every table comes back with the same column types on both engines: dates as ``date32``,
attributes as JSON text, ``consented`` as 0/1.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from candor.store import mirror as columnar
from candor.store.database import Store, normalise_url
from candor.store.mirror import (
    RECORD_SCHEMA,
    Mirror,
    Segment,
    location,
    typed,
    with_type_codes,
)

log = logging.getLogger(__name__)

RECORD_COLUMNS = ", ".join(RECORD_SCHEMA.names)
SUBJECT_SCHEMA = pa.schema([("id", pa.int64()), ("kind", pa.string())])
# With the region code its identifier carries (null where none does), for breakdowns by region.
SUBJECT_REGION_SCHEMA = SUBJECT_SCHEMA.append(pa.field("region_code", pa.string()))
RATING_SCHEMA = pa.schema(
    [
        ("rulebook_id", pa.int64()),
        ("subject_id", pa.int64()),
        ("consented", pa.int64()),
        ("score", pa.int64()),
        ("grade", pa.string()),
    ]
)
LISTING_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("rulebook_id", pa.int64()),
        ("list_name", pa.string()),
        ("subject_id", pa.int64()),
        ("record_id", pa.int64()),
        ("criterion", pa.int64()),
        ("starts_on", pa.date32()),
        ("ends_on", pa.date32()),
        ("removed_on", pa.date32()),
        ("removed_by", pa.int64()),
        ("withdrawn_on", pa.date32()),
    ]
)
# A SQLite catch-up of more records than this reads them with ADBC in a child process.
CHILD_CATCH_UP = 200_000
_FETCH_ROWS = 100_000
_PACKED_ROWS = 1_000_000


# --- the two ways out of the store ---------------------------------------------------------------


def _adbc_postgresql(store: Store) -> Any:
    import adbc_driver_postgresql.dbapi as pg_adbc  # noqa: PLC0415 — only for PostgreSQL

    url = make_url(normalise_url(store.url)).set(drivername="postgresql")
    return pg_adbc.connect(url.render_as_string(hide_password=False))


def _adbc_fetch(conn: Any, sql: str, params: Sequence[Any]) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(sql, list(params))
        return cur.fetch_arrow_table()


def _sqlite_fetch(conn: Connection, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """Rows of ``sql`` on a SQLite connection as an Arrow table of ``schema``."""
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(sql, tuple(params))
        batches = []
        while rows := cursor.fetchmany(_FETCH_ROWS):
            columns = list(zip(*rows, strict=True))
            arrays = [
                pa.array(values, type=pa.string() if pa.types.is_date(f.type) else f.type)
                for values, f in zip(columns, schema, strict=True)
            ]
            batches.append(typed(pa.Table.from_arrays(arrays, names=schema.names), schema))
    finally:
        cursor.close()
    return pa.concat_tables(batches) if batches else schema.empty_table()


def _csv_cell(field: pa.Field) -> str:
    """A column as one CSV cell written by SQLite: empty for NULL, strings quoted."""
    if pa.types.is_string(field.type):
        return f"""coalesce('"' || replace({field.name}, '"', '""') || '"', '')"""
    return f"coalesce({field.name}, '')"


def _sqlite_packed(
    conn: Connection,
    table: str,
    schema: pa.Schema,
    where: str = "TRUE",
    params: Sequence[Any] = (),
) -> pa.Table:
    """The rows of ``table`` matching ``where`` as a table of ``schema`` (numbers, dates and
    short strings), about three times faster than ``_sqlite_fetch``: SQLite writes each chunk
    of rows as one CSV text, which Arrow's CSV reader parses, so that Python makes one object
    per chunk instead of one per value."""
    cells = " || ',' || ".join(_csv_cell(f) for f in schema)
    sql = (
        f"SELECT group_concat({cells}, char(10)), max(candor_row), count(*) FROM ("
        f"SELECT rowid AS candor_row, * FROM {table} WHERE rowid > ? AND ({where}) "
        f"ORDER BY candor_row LIMIT {_PACKED_ROWS})"
    )
    read = pcsv.ReadOptions(column_names=schema.names)
    parse = pcsv.ParseOptions(newlines_in_values=True)
    convert = pcsv.ConvertOptions(
        column_types=dict(zip(schema.names, schema.types, strict=True)),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    driver = conn.connection.driver_connection
    assert driver is not None
    parts, after = [schema.empty_table()], 0
    while True:
        rows, last, count = driver.execute(sql, (after, *params)).fetchone()
        if not count:
            break
        chunk = pcsv.read_csv(
            io.BytesIO(rows.encode()),
            read_options=read,
            parse_options=parse,
            convert_options=convert,
        )
        parts.append(chunk.cast(schema))
        after = last
    return pa.concat_tables(parts)


def _query(store: Store, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """``sql`` (``?`` markers, rewritten as ``$n`` for PostgreSQL) as a table of ``schema``."""
    if store.dialect == "postgresql":
        with _adbc_postgresql(store) as conn:
            return typed(_adbc_fetch(conn, _numbered(sql), params), schema)
    with store.read() as conn:
        return _sqlite_fetch(conn, sql, params, schema)


def _numbered(sql: str) -> str:
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def _among(n: int) -> str:
    return ", ".join("?" * n) or "NULL"


def _record_columns(store: Store) -> str:
    if store.dialect == "postgresql":
        return RECORD_COLUMNS.replace("attributes", "attributes::text AS attributes")
    return RECORD_COLUMNS


def _day(store: Store, value: date) -> Any:
    return value if store.dialect == "postgresql" else value.isoformat()


# --- records -------------------------------------------------------------------------------------


def records_from_store(
    store: Store, record_types: Sequence[str], as_of: date, through_id: int
) -> pa.Table:
    """Records of ``record_types`` decided by ``as_of`` with ids up to ``through_id``, read
    straight from the store (``mirror.READ_SCHEMA``)."""
    sql = (
        f"SELECT {_record_columns(store)} FROM records "
        f"WHERE record_type IN ({_among(len(record_types))}) AND decided_on <= ? AND id <= ?"
    )
    params = [*record_types, _day(store, as_of), through_id]
    return with_type_codes(_query(store, sql, params, RECORD_SCHEMA))


def records(
    store: Store,
    record_types: Sequence[str],
    as_of: date,
    through_id: int,
    *,
    mirror_dir: Path | None = None,
) -> pa.Table:
    """Records of ``record_types`` decided by ``as_of`` with ids up to ``through_id``
    (``mirror.READ_SCHEMA``): from the store's mirror, caught up first, where it has one
    (``store.mirror.location``); else straight from the store. ``through_id`` must be a
    watermark (``store.ratings.watermark``): every record up to it committed.

    A mirror that cannot be written or read (a full disk, a read-only directory) is only an
    optimisation lost: the records are read from the store, and a warning logged.
    """
    where = location(store.url, mirror_dir)
    if where is not None:
        try:
            with Mirror(where).locked() as mirrored:
                _catch_up(store, mirrored, through_id)
                return mirrored.read(record_types, as_of, through_id)
        except OSError as e:
            log.warning("the records mirror %s is not usable (%s): reading the store", where, e)
    return records_from_store(store, record_types, as_of, through_id)


@dataclass(frozen=True)
class CaughtUp:
    """What a catch-up did: records added, whether the mirror was rebuilt, and how long."""

    added: int
    rebuilt: bool
    seconds: float


def catch_up(store: Store, through_id: int, *, mirror_dir: Path | None = None) -> CaughtUp:
    """Bring the store's mirror up to ``through_id`` (a watermark); nothing without a mirror
    (or with one that is not usable: see ``records``)."""
    started = time.perf_counter()
    where = location(store.url, mirror_dir)
    added, rebuilt = 0, False
    if where is not None:
        try:
            with Mirror(where).locked() as mirrored:
                added, rebuilt = _catch_up(store, mirrored, through_id)
        except OSError as e:
            log.warning("the records mirror %s is not usable (%s)", where, e)
    return CaughtUp(added, rebuilt, time.perf_counter() - started)


def _still_the_store(store: Store, mirrored: Mirror) -> bool:
    """Whether the newest mirrored record is still the store's record of that id."""
    newest = mirrored.newest
    if newest is None:
        return True
    columns = ", ".join(columnar.IDENTITY)
    with store.read() as conn:
        row = conn.execute(
            text(f"SELECT {columns} FROM records WHERE id = :id"), {"id": newest["id"]}
        ).first()
    return columnar.same_record(newest, dict(row._mapping) if row else None)


def _catch_up(store: Store, mirrored: Mirror, through_id: int) -> tuple[int, bool]:
    rebuilt = not _still_the_store(store, mirrored)
    if rebuilt:
        log.warning("the records mirror %s does not match its store: rebuilt", mirrored.directory)
        mirrored.clear()
    after = mirrored.watermark
    if after >= through_id:
        return 0, rebuilt
    if store.dialect == "postgresql":
        with _adbc_postgresql(store) as conn:

            def on_postgresql(sql: str, params: Sequence[Any]) -> pa.Table:
                return _adbc_fetch(conn, _numbered(sql), params)

            parts = _newer(on_postgresql, _record_columns(store), after, through_id)
            return mirrored.append(parts, through_id), rebuilt
    if through_id - after > CHILD_CATCH_UP:
        try:
            segments = _written_by_child(store, mirrored, through_id)
            return mirrored.add(segments, through_id), rebuilt
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            log.warning("no child process caught the records mirror up (%s): reading here", e)
    with store.read() as conn:

        def on_sqlite(sql: str, params: Sequence[Any]) -> pa.Table:
            return _sqlite_fetch(conn, sql, params, RECORD_SCHEMA)

        parts = _newer(on_sqlite, RECORD_COLUMNS, after, through_id)
        return mirrored.append(parts, through_id), rebuilt


def _newer(
    fetch: Callable[[str, Sequence[Any]], pa.Table], columns: str, after: int, through: int
) -> Iterator[pa.Table]:
    """Records with ids in (after, through], in id order, ``SEGMENT_ROWS`` at a time."""
    sql = (
        f"SELECT {columns} FROM records WHERE id > ? AND id <= ? "
        f"ORDER BY id LIMIT {columnar.SEGMENT_ROWS}"
    )
    while after < through:
        part = fetch(sql, [after, through])
        if part.num_rows == 0:
            return
        yield part
        after = int(pc.max(part["id"]).as_py())


def _written_by_child(store: Store, mirrored: Mirror, through: int) -> list[Segment]:
    """Segments of the records above the mirror's watermark up to ``through``, read by ADBC
    and written by a child process (see the module docstring for why not this one)."""
    request = {
        "database": str(make_url(normalise_url(store.url)).database),
        "directory": str(mirrored.directory),
        "after": mirrored.watermark,
        "through": through,
    }
    import candor  # noqa: PLC0415

    env = dict(os.environ)
    root = str(Path(candor.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", "from candor.store.export import child_catch_up; child_catch_up()"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise ValueError(f"exit {done.returncode}: {done.stderr.strip()[-1000:]}")
    return [Segment.from_json(doc) for doc in json.loads(done.stdout)]


def child_catch_up() -> None:
    """The child's side of ``_written_by_child``: a JSON request on stdin, segments written,
    their JSON on stdout. The parent holds the mirror's lock meanwhile."""
    import adbc_driver_sqlite.dbapi as sqlite_adbc  # noqa: PLC0415 — only in the child

    request = json.loads(sys.stdin.read())
    mirrored = Mirror(Path(request["directory"]))
    with sqlite_adbc.connect(f"file:{request['database']}?mode=ro") as conn:

        def on_adbc(sql: str, params: Sequence[Any]) -> pa.Table:
            return _adbc_fetch(conn, sql, params)

        parts = _newer(on_adbc, RECORD_COLUMNS, request["after"], request["through"])
        segments = [mirrored.write_segment(part).to_json() for part in parts]
    sys.stdout.write(json.dumps(segments))


# --- subjects, ratings, listings ------------------------------------------------------------------


def subjects(store: Store, *, regions: bool = False) -> pa.Table:
    """Every subject's id and kind (``SUBJECT_SCHEMA``); with ``regions``, its region code
    too (``SUBJECT_REGION_SCHEMA``)."""
    schema = SUBJECT_REGION_SCHEMA if regions else SUBJECT_SCHEMA
    if store.dialect == "postgresql":
        return _query(store, f"SELECT {', '.join(schema.names)} FROM subjects", [], schema)
    with store.read() as conn:
        return _sqlite_packed(conn, "subjects", schema)


def _stored(
    store: Store, conn: Connection, table: str, schema: pa.Schema, rulebook_ids: Sequence[int]
) -> pa.Table:
    # ``+rulebook_id``: a scan of the table, not a look-up per row through the primary key,
    # whose first column this is (ten times faster on SQLite when most rows match).
    where = f"+rulebook_id IN ({_among(len(rulebook_ids))})"
    if store.dialect == "postgresql":
        sql = f"SELECT {', '.join(schema.names)} FROM {table} WHERE {where}"
        with _adbc_postgresql(store) as adbc:
            return typed(_adbc_fetch(adbc, _numbered(sql), rulebook_ids), schema)
    return _sqlite_packed(conn, table, schema, where, rulebook_ids)


def ratings(store: Store, conn: Connection, rulebook_ids: Sequence[int]) -> pa.Table:
    """Stored ratings under ``rulebook_ids`` (``RATING_SCHEMA``), as ``conn``'s transaction
    sees them. On PostgreSQL they are read on a connection of their own: hold
    ``store.ratings.lock_for_batch`` in ``conn`` so that they cannot change meanwhile."""
    return _stored(store, conn, "ratings", RATING_SCHEMA, rulebook_ids)


def listings(store: Store, conn: Connection, rulebook_ids: Sequence[int]) -> pa.Table:
    """Stored listings under ``rulebook_ids`` (``LISTING_SCHEMA``); see ``ratings``."""
    return _stored(store, conn, "listings", LISTING_SCHEMA, rulebook_ids)

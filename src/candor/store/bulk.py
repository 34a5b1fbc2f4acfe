"""Bulk inserts: the one place where many rows go into the store at once.

SQLAlchemy's executemany over dictionaries costs more per row than the insert itself, so large
inserts take tuples in table-column order: on SQLite through the driver's ``executemany`` with
the INSERT that SQLAlchemy compiled for the table, on PostgreSQL through ``COPY``, which is an
order of magnitude faster there than any INSERT.

With ``skip_conflicts_on`` a row that collides with an existing one on those columns is
skipped rather than failing the batch, and the count of rows actually inserted is returned:
the unique index does the duplicate check the insert has to do anyway, instead of a separate
look-up per row first.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError


@cache
def _sqlite_insert(table: Table, columns: tuple[str, ...], skip_on: tuple[str, ...]) -> str:
    statement = (
        sqlite_insert(table)
        .values(dict.fromkeys(columns))
        .on_conflict_do_nothing(index_elements=list(skip_on))
        if skip_on
        else insert(table).values(dict.fromkeys(columns))
    )
    return str(statement.compile(dialect=sqlite.dialect(paramstyle="qmark")))


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    skip_conflicts_on: Sequence[str] = (),
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` inside the open transaction.

    Values must already be in the driver's form: dates and JSON as ISO / JSON text, binary as
    bytes. Returns the number of rows inserted.
    """
    if not rows:
        return 0
    cols, skip_on = tuple(columns), tuple(skip_conflicts_on)
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, cols, rows, skip_on)
    result = conn.exec_driver_sql(_sqlite_insert(table, cols, skip_on), list(rows))
    return int(result.rowcount)


def reserve_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """``count`` fresh primary-key values for ``table``, so a bulk insert needs no RETURNING.

    On SQLite the caller holds the write lock (``Store.write`` begins IMMEDIATE), so the next
    values after the largest are free; on PostgreSQL they come from the table's sequence.
    """
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
            f"FROM generate_series(1, {int(count)})"
        )
        return [int(r[0]) for r in rows]
    start = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(int(start) + 1, int(start) + 1 + count))


def driver_value(conn: Connection, table: Table, column: str, value: Any) -> Any:
    """``value`` as SQLAlchemy would hand it to the driver for ``table.column``."""
    process = table.c[column].type.bind_processor(conn.dialect)
    return value if process is None or value is None else process(value)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _copy(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    skip_on: tuple[str, ...],
) -> int:
    driver = conn.connection.driver_connection
    assert driver is not None
    dbapi = conn.dialect.loaded_dbapi
    target = f'"{table.name}"'
    if skip_on:
        # COPY cannot skip conflicts: copy into a scratch table, then insert what is new.
        staging = f'"candor_staging_{table.name}"'
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
            f"SELECT {_quoted(columns)} FROM {target} WITH NO DATA"
        )
        target = staging
    statement = f"COPY {target} ({_quoted(columns)}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as e:
        # The driver's own error, raised past SQLAlchemy: wrap it as SQLAlchemy would, so that
        # callers see one kind of IntegrityError on every engine.
        raise DBAPIError.instance(statement, None, e, dbapi.Error, hide_parameters=True) from e
    if not skip_on:
        return len(rows)
    result = conn.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({_quoted(columns)}) SELECT {_quoted(columns)} '
        f"FROM {target} ON CONFLICT ({_quoted(skip_on)}) DO NOTHING"
    )
    conn.exec_driver_sql(f"TRUNCATE {target}")
    return int(result.rowcount)

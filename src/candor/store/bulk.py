"""Bulk inserts: the one place where many rows go into the store at once.

SQLAlchemy's executemany over dictionaries costs more per row than the insert itself, so large
inserts take tuples in table-column order: on SQLite through the driver's ``executemany`` with
the INSERT that SQLAlchemy compiled for the table, on PostgreSQL through ``COPY``, which is an
order of magnitude faster there than any INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError


@cache
def _sqlite_insert(table: Table, columns: tuple[str, ...]) -> str:
    statement = insert(table).values(dict.fromkeys(columns))
    compiled = statement.compile(dialect=sqlite.dialect(paramstyle="qmark"))
    return str(compiled)


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` inside the open transaction.

    Values must already be in the driver's form: dates and JSON as ISO / JSON text, binary as
    bytes.
    """
    if not rows:
        return
    cols = tuple(columns)
    if conn.dialect.name == "postgresql":
        _copy(conn, table, cols, rows)
    else:
        conn.exec_driver_sql(_sqlite_insert(table, cols), list(rows))


def _copy(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    driver = conn.connection.driver_connection
    assert driver is not None
    names = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    dbapi = conn.dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as e:
        # The driver's own error, raised past SQLAlchemy: wrap it as SQLAlchemy would, so that
        # callers see one kind of IntegrityError on every engine.
        raise DBAPIError.instance(statement, None, e, dbapi.Error, hide_parameters=True) from e

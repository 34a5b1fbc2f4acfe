"""Small SQL pieces whose best form differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.sql.elements import ColumnClause


def among(
    conn: Connection, column: ColumnClause[str] | ColumnElement[str], values: Sequence[str]
) -> ColumnElement[bool]:
    """``column IN values`` with the whole list as one bound parameter.

    An expanding ``IN (:v1, :v2, …)`` costs SQLAlchemy a placeholder per value to render and
    bind, which for 50,000 ids costs more than the look-up itself. PostgreSQL takes an array;
    SQLite takes a JSON array unpacked by ``json_each``. Either way the column's index is used.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    unpacked: Select[tuple[str]] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, orjson.dumps(list(values)).decode(), type_=String))
    )
    return column.in_(unpacked.scalar_subquery())


def ids_among(
    conn: Connection, column: ColumnClause[int] | ColumnElement[int], ids: Sequence[int]
) -> ColumnElement[bool]:
    """``column IN ids`` for many integer ids, as one bound value (see ``among``)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))
    unpacked: Select[tuple[int]] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, orjson.dumps(list(ids)).decode(), type_=String))
    )
    return column.in_(unpacked.scalar_subquery())


# A per-connection scratch table of keys, for joining many binary keys at once on SQLite.
_keys = Table("candor_keys", MetaData(), Column("k", LargeBinary, primary_key=True))


def binary_among(
    conn: Connection, column: ColumnClause[bytes] | ColumnElement[bytes], values: Sequence[bytes]
) -> ColumnElement[bool]:
    """``column IN values`` for many binary keys (keyed hashes), as one bound value or one join.

    PostgreSQL takes a ``bytea[]``. SQLite before 3.41 cannot decode hex inside SQL, so the keys
    go into a temporary table of this connection, filled with one ``executemany``, and the
    look-up is a join on the column's index.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(LargeBinary)))
    conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS candor_keys (k BLOB PRIMARY KEY)")
    conn.exec_driver_sql("DELETE FROM candor_keys")
    if values:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO candor_keys (k) VALUES (?)", [(v,) for v in values]
        )
    return column.in_(select(_keys.c.k))

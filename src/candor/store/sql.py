"""Small SQL pieces whose best form differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Select,
    String,
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

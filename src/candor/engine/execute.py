"""Run a rating plan: inside the store for one subject, or on DuckDB for everyone.

One place runs plan SQL (Splink's habit), so one place wraps failures: a failing statement is
raised as ``RatingError`` naming the step, with the database error chained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from candor.engine.dialects import Engine, engine_of
from candor.engine.plan import OUTPUTS, Plan
from candor.errors import CandorError


class RatingError(CandorError):
    """A rating plan failed to run (a bug or a broken store, never bad input)."""


@dataclass(frozen=True)
class Rows:
    """The plan's outputs for one subject: rows as dicts, in a stable order."""

    ratings: list[dict[str, Any]]
    contributions: list[dict[str, Any]]
    overrides: list[dict[str, Any]]
    listings: list[dict[str, Any]]


_ORDER: Mapping[str, tuple[str, ...]] = {
    "ratings": ("rulebook_id",),
    "contributions": ("rulebook_id", "rule_id", "record_id"),
    "overrides": ("rulebook_id", "override_id", "record_id"),
    "listings": ("rulebook_id", "list_name", "record_id"),
}


def _sort_key(columns: tuple[str, ...]) -> Any:
    return lambda row: tuple((row[c] is None, row[c] if row[c] is not None else 0) for c in columns)


def _as_date(value: Any) -> Any:
    # SQLite keeps dates as ISO text.
    return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else value


def run_in_store(conn: Connection, plan: Plan, subject_id: int, as_of: date) -> Rows:
    """Rate one subject inside the store (SQLite or PostgreSQL) with a one-subject plan."""
    engine = engine_of(conn.dialect.name)
    params = {"as_of": as_of.isoformat(), "subject_id": subject_id}
    if engine is Engine.POSTGRESQL:
        params["as_of"] = as_of
    out: dict[str, list[dict[str, Any]]] = {}
    for output in OUTPUTS:
        sql = plan.query(engine, output)
        try:
            result = conn.exec_driver_sql(sql, params)
        except DBAPIError as e:
            raise RatingError(f"the {output} step failed on {engine.value}") from e
        rows = [
            {k: _as_date(v) if k.endswith(("_on", "_until")) else v for k, v in r.items()}
            for r in result.mappings()
        ]
        out[output] = sorted(rows, key=_sort_key(_ORDER[output]))
    return Rows(**out)


# Steps DuckDB reads through rather than materialises: `versions` is a filter of the input that
# two steps read, and scanning the Arrow input twice costs less than copying it once.
_VIEWS = frozenset({"versions"})


def run_batch(
    plan: Plan, records: pa.Table, subjects: pa.Table, as_of: date
) -> dict[str, pa.Table]:
    """Rate every subject on DuckDB.

    Args:
        records: id, subject_id, record_type, occurred_on, decided_on, status, refers_to_id,
            original_id, attributes (JSON text) — dates as dates or ISO text.
        subjects: id, kind.
    Returns:
        Each output of the plan as an Arrow table.
    """
    con = duckdb.connect()
    try:
        con.register("records_in", records)
        con.register("subjects_in", subjects)
        # Views, not copies: the Arrow tables are read where they lie, and the first step
        # (which keeps only the records decided by the date) reads them once.
        con.execute(
            "CREATE TEMP VIEW records AS SELECT id, subject_id, record_type, "
            "CAST(occurred_on AS DATE) AS occurred_on, CAST(decided_on AS DATE) AS decided_on, "
            "status, refers_to_id, original_id, CAST(attributes AS VARCHAR) AS attributes "
            "FROM records_in"
        )
        con.execute("CREATE TEMP VIEW subjects AS SELECT id, kind FROM subjects_in")
        params = {"as_of": as_of}
        results: dict[str, pa.Table] = {}
        for step in plan.steps:
            sql = plan.statement(Engine.DUCKDB, step.name)
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            kind = "TABLE"
            if step.name in _VIEWS:
                # A view takes no parameters; the date is a date, so its ISO text is safe.
                kind, sql, used = "VIEW", sql.replace("$as_of", f"'{as_of.isoformat()}'"), {}
            try:
                con.execute(f'CREATE TEMP {kind} "{step.name}" AS {sql}', used)
            except duckdb.Error as e:
                raise RatingError(f"the {step.name} step failed on duckdb") from e
        for output in OUTPUTS:
            results[output] = con.sql(f'SELECT * FROM "{output}"').to_arrow_table()
        return results
    finally:
        con.close()

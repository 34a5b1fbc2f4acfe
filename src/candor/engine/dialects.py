"""The three SQL dialects a rating plan runs on, and where they differ.

The plan is written once, in DuckDB's SQL, and SQLGlot writes it out for each engine. Where
SQLGlot's own translation would give a different answer on one engine, the dialect below
overrides it, so that the same inputs give the same ratings everywhere:

- adding months or years to a date that does not exist in the target month (31 January + 1 month,
  29 February + 1 year) lands on the month's last day in DuckDB and PostgreSQL; SQLite's
  ``date(d, '+1 month')`` would overflow into the next month, so SQLite steps back to the last day;
- attributes are JSON: PostgreSQL reads them with ``->> 'name'`` (they are JSONB there),
  the others with a JSON path;
- SQLAlchemy's SQLite driver registers Python's ``math.floor`` as ``floor()``, which raises on
  NULL (and on numbers beyond 64 bits): SQLite floors with its own ``ceil()`` instead;
- text is ordered by code point everywhere: the plan marks its text comparisons ``COLLATE "C"``,
  which PostgreSQL keeps (its database collation could be a language's), SQLite writes as its
  own ``BINARY`` and DuckDB drops (it compares bytes unless told otherwise).
"""

from __future__ import annotations

from enum import StrEnum

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.sqlite import SQLite
from sqlglot.generator import Generator


class Engine(StrEnum):
    """Where a plan runs: the batch engine, or inside the store."""

    DUCKDB = "duckdb"
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def _interval(expression: exp.DateAdd) -> tuple[str, str]:
    interval = expression.expression
    unit = interval.args.get("unit") if isinstance(interval, exp.Interval) else None
    amount = interval.this if isinstance(interval, exp.Interval) else None
    if not isinstance(amount, exp.Literal) or unit is None:
        raise ValueError("the plan adds only literal intervals to dates")
    return amount.name, unit.name.lower()


def _sqlite_date_add(generator: Generator, expression: exp.DateAdd) -> str:
    amount, unit = _interval(expression)
    this = generator.sql(expression, "this")
    shifted = f"date({this}, '+{amount} {unit}')"
    if unit.startswith("day"):
        return shifted
    # An overflow shows as a changed day of month: go back to the last day of the month before.
    return (
        f"(CASE WHEN strftime('%d', {shifted}) <> strftime('%d', {this}) "
        f"THEN date({shifted}, 'start of month', '-1 day') ELSE {shifted} END)"
    )


def _postgres_json_value(generator: Generator, expression: exp.JSONExtractScalar) -> str:
    path = expression.expression
    key = path.sql().strip("'").removeprefix("$.")
    return f"({generator.sql(expression, 'this')} ->> {exp.Literal.string(key).sql()})"


# The collation that orders text by code point (UTF-8 bytes) on PostgreSQL.
BYTE_ORDER = "C"


def _is_byte_order(expression: exp.Collate) -> bool:
    return expression.text("expression") == BYTE_ORDER


def _sqlite_floor(generator: Generator, expression: exp.Floor) -> str:
    # SQLite's own ceil() is still there: floor(x) is -ceil(-x), and NULL stays NULL.
    negated = exp.Neg(this=exp.Paren(this=expression.this))
    return generator.sql(exp.Paren(this=exp.Neg(this=exp.Ceil(this=negated))))


def _sqlite_collate(generator: Generator, expression: exp.Collate) -> str:
    if _is_byte_order(expression):
        return f"{generator.sql(expression, 'this')} COLLATE BINARY"
    return generator.collate_sql(expression)


def _duckdb_collate(generator: Generator, expression: exp.Collate) -> str:
    if _is_byte_order(expression):
        return generator.sql(expression, "this")
    return generator.collate_sql(expression)


class CandorDuckDB(DuckDB):
    class Generator(DuckDB.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS = {  # noqa: RUF012 — SQLGlot's own convention
            **DuckDB.Generator.TRANSFORMS,
            exp.Collate: _duckdb_collate,
        }


class CandorSQLite(SQLite):
    class Generator(SQLite.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS = {  # noqa: RUF012 — SQLGlot's own convention
            **SQLite.Generator.TRANSFORMS,
            exp.DateAdd: _sqlite_date_add,
            exp.Floor: _sqlite_floor,
            exp.Collate: _sqlite_collate,
        }


class CandorPostgres(Postgres):
    class Generator(Postgres.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS = {  # noqa: RUF012 — SQLGlot's own convention
            **Postgres.Generator.TRANSFORMS,
            exp.JSONExtractScalar: _postgres_json_value,
        }


DIALECTS: dict[Engine, type[SQLite | Postgres | DuckDB]] = {
    Engine.DUCKDB: CandorDuckDB,
    Engine.SQLITE: CandorSQLite,
    Engine.POSTGRESQL: CandorPostgres,
}

# The dialect SQLGlot reads the plan's own SQL in.
SOURCE_DIALECT = "duckdb"


def engine_of(dialect_name: str) -> Engine:
    """The engine for a SQLAlchemy dialect name."""
    if dialect_name == "sqlite":
        return Engine.SQLITE
    if dialect_name == "postgresql":
        return Engine.POSTGRESQL
    raise ValueError(f"candor cannot rate inside a {dialect_name} store")


def render(expression: exp.Expr, engine: Engine) -> str:
    """The expression as SQL text for ``engine``."""
    return expression.sql(dialect=DIALECTS[engine]())

"""PostgreSQL for benchmarks: which server, and scratch schemas dropped afterwards.

Each store under test lives in a schema of its own with a random name, reached through a URL
whose ``options`` set the ``search_path`` (as the test suite does), so a benchmark never touches
anything else in the database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

URL_VARIABLES = ("CANDOR_BENCH_PG_URL", "CANDOR_TEST_PG_URL")


def configured_url() -> str | None:
    """The server to measure against: CANDOR_BENCH_PG_URL, else CANDOR_TEST_PG_URL."""
    for name in URL_VARIABLES:
        if value := os.environ.get(name):
            return value
    return None


def libpq_url(url: str) -> str:
    """``url`` as psycopg takes it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def schema_url(url: str, schema: str) -> str:
    """A store URL whose connections see only ``schema``."""
    parsed = make_url(url).set(drivername="postgresql")
    parsed = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


def server_version(url: str) -> str:
    with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0]).split(" ", 1)[0]


@contextmanager
def scratch_schemas(url: str, count: int, prefix: str = "bench") -> Iterator[list[str]]:
    """``count`` new, empty schemas, dropped with everything in them on exit."""
    names = [f"{prefix}_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield names
    finally:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            for name in names:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                )

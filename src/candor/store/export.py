"""Read records and subjects out of the store as Arrow tables, for the batch engine.

ADBC drivers move rows from SQLite and PostgreSQL straight into Arrow buffers, without a Python
object per value (pandas' ``read_sql`` builds one per value, which is most of its time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import make_url

from candor.store.database import Store, normalise_url

RECORD_COLUMNS = (
    "id, subject_id, record_type, occurred_on, decided_on, status, refers_to_id, original_id, "
    "attributes"
)


def _connect(store: Store) -> Any:
    url = make_url(normalise_url(store.url))
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite_adbc  # noqa: PLC0415 — one driver per store kind

        return sqlite_adbc.connect(f"file:{url.database}?mode=ro")
    import adbc_driver_postgresql.dbapi as pg_adbc  # noqa: PLC0415

    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return pg_adbc.connect(libpq)


def _fetch(store: Store, sql: str, params: Sequence[Any]) -> pa.Table:
    with _connect(store) as conn, conn.cursor() as cur:
        cur.execute(sql, list(params))
        return cur.fetch_arrow_table()


def records(store: Store, record_types: Sequence[str], as_of: date, through_id: int) -> pa.Table:
    """Records of ``record_types`` decided by ``as_of`` with ids up to ``through_id``."""
    pg = store.dialect == "postgresql"

    def mark(i: int) -> str:
        return f"${i}" if pg else "?"

    types = ", ".join(mark(i + 1) for i in range(len(record_types))) or "NULL"
    n = len(record_types)
    attributes = "attributes::text AS attributes" if pg else "attributes"
    columns = RECORD_COLUMNS.replace("attributes", attributes)
    sql = (
        f"SELECT {columns} FROM records WHERE record_type IN ({types}) "
        f"AND decided_on <= {mark(n + 1)} AND id <= {mark(n + 2)}"
    )
    return _fetch(store, sql, [*record_types, as_of if pg else as_of.isoformat(), through_id])


def subjects(store: Store) -> pa.Table:
    return _fetch(store, "SELECT id, kind FROM subjects", [])

"""The system of record: SQLAlchemy Core tables, Alembic migrations and the queries over them.

SQLite (a file, WAL) is the embedded default; PostgreSQL is the same schema by URL.
"""

from candor.store.database import Store, open_store

__all__ = ["Store", "open_store"]

"""Opening the store: engines, connection settings and the two kinds of transaction.

SQLite gets WAL (readers never wait for the writer), ``synchronous=FULL`` (a commit is on disk
before it is acknowledged), foreign keys on, and a busy timeout. Write transactions start with
``BEGIN IMMEDIATE``: taking the write lock up front means two writers queue instead of one
failing half-way with "database is locked".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from candor.errors import ConfigurationError, InvalidInput

_WRITE = "candor_write"
BUSY_TIMEOUT_MS = 60_000
# SQLite's page cache per connection, MiB, by default: room for the indexes a bulk ingestion
# maintains (a command that ends when the file is in). A connection keeps the pages it has read
# until its cache is full; in WAL mode it drops them only when another connection has written.
# So in a long-running server the connection that does the writing (the check-log writer) grows
# its cache with the check log, up to the full size: the API server asks for a smaller one
# (`Settings.api_sqlite_cache_mib`).
CACHE_MIB = 64


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL for a store URL; ``postgresql://`` means the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(
            "the database URL is not valid; expected sqlite:///path/candor.db or "
            "postgresql://user@host/db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("sqlite", "postgresql+psycopg"):
        raise InvalidInput(
            f"unsupported database {parsed.drivername!r}; candor runs on sqlite and postgresql"
        )
    return parsed.render_as_string(hide_password=False)


def display_url(url: str) -> str:
    """The URL fit for messages: no password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def _sqlite_pragmas(cache_mib: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the sqlite3 module, decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode = WAL",
            "synchronous = FULL",
            "foreign_keys = ON",
            f"busy_timeout = {BUSY_TIMEOUT_MS}",
            f"cache_size = {-1024 * cache_mib}",  # negative: KiB, not pages
            "temp_store = MEMORY",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, cache_mib: int = CACHE_MIB) -> Engine:
    """An engine for a store URL, with candor's connection settings; on SQLite each connection
    has ``cache_mib`` MiB of page cache (PostgreSQL's cache is the server's own)."""
    sa_url = normalise_url(url)
    if sa_url.startswith("sqlite"):
        database = make_url(sa_url).database
        if database and database != ":memory:" and not Path(database).parent.exists():
            raise ConfigurationError(
                f"the directory for the store {display_url(url)} does not exist"
            )
        # Pooled: a reused connection keeps its page cache warm, which is most of the cost of
        # maintaining indexes during ingestion. `Store.close` disposes of the pool.
        engine = create_engine(
            sa_url,
            pool_size=4,
            max_overflow=8,
            connect_args={"check_same_thread": False},
            hide_parameters=True,  # parameters hold names and hashes: keep them out of errors
        )
        event.listen(engine, "connect", _sqlite_pragmas(cache_mib))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        sa_url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
    )


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory a SQLite store file will live in (for `candor init`)."""
    parsed = make_url(normalise_url(url))
    if parsed.drivername == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


class Store:
    """The store behind one database URL."""

    def __init__(self, url: str, *, cache_mib: int = CACHE_MIB) -> None:
        self.url = url
        self.engine = make_engine(url, cache_mib=cache_mib)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both engines)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed durably on exit, rolled back on error."""
        with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            yield conn

    def has_table(self, name: str) -> bool:
        try:
            with self.engine.connect() as conn:
                return inspect(conn).has_table(name)
        except OperationalError as e:
            raise ConfigurationError(
                f"cannot open the store {self.display_url}: {e.orig}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_store(url: str, *, cache_mib: int = CACHE_MIB) -> Store:
    """Open the store at ``url`` and check that its schema is current."""
    from candor.store.migrate import check_current  # noqa: PLC0415 — migrate imports this module

    store = Store(url, cache_mib=cache_mib)
    try:
        check_current(store)
    except BaseException:
        store.close()
        raise
    return store

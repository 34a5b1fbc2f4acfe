"""The store: migrations, connection settings and opening, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient

from candor.api import create_app
from candor.errors import ConfigurationError, InvalidInput
from candor.settings import Settings
from candor.store import Store, open_store
from candor.store.database import display_url, normalise_url
from candor.store.migrate import head_revision, upgrade
from candor.store.tables import metadata, sources


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_upgrading_twice_changes_nothing(store: Store) -> None:
    assert upgrade(store) == (head_revision(), head_revision())


def test_an_uninitialised_store_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="run `candor init` first"):
        open_store(f"sqlite:///{tmp_path / 'nothing.db'}")


def test_a_store_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'no' / 'such' / 'candor.db'}")


def test_sqlite_connections_are_durable_and_enforce_foreign_keys(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("SQLite settings")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO source_mandates (source_id, record_type, granted_at) "
            "VALUES (999, 'x.y', '2026-01-01')"
        )


def _cache_kib(store: Store) -> int:
    with store.read() as conn:
        size = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    assert isinstance(size, int) and size < 0  # negative: KiB, not pages
    return -size


def test_the_api_server_has_a_bounded_page_cache_and_ingestion_a_large_one(
    settings: Settings,
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite settings")
    # The server's store, opened by the app's start-up as `candor serve` runs it.
    app = create_app(settings)
    with TestClient(app):
        assert _cache_kib(app.state.store) == 8 * 1024
    smaller = create_app(dataclasses.replace(settings, api_sqlite_cache_mib=2))
    with TestClient(smaller):
        assert _cache_kib(smaller.state.store) == 2 * 1024
    # Every command that opens the store itself, `candor ingest` among them, keeps 64 MiB.
    with open_store(settings.database_url) as store:
        assert _cache_kib(store) == 64 * 1024


def test_instants_come_back_in_utc_on_every_engine(store: Store) -> None:
    written = datetime(2026, 3, 1, 20, 30, tzinfo=timezone(timedelta(hours=8)))
    with store.write() as conn:
        conn.execute(sa.insert(sources).values(name="s", created_at=written))
    with store.read() as conn:
        read = conn.execute(sa.select(sources.c.created_at)).scalar_one()
    assert read == written
    assert read.utcoffset() == timedelta(0)
    assert read.tzinfo is not None and read.astimezone(UTC) == read


def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute(sa.insert(sources).values(name="half", created_at=datetime.now(UTC)))
        raise RuntimeError("crash in the middle")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sources)).scalar_one() == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///candor.db", "sqlite:///candor.db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_store_urls(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_unsupported_and_malformed_urls_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unsupported database 'mysql'"):
        normalise_url("mysql://u@h/db")
    with pytest.raises(InvalidInput, match="not valid"):
        normalise_url("not a url")


def test_messages_never_show_a_password() -> None:
    assert "s3cret" not in display_url("postgresql://user:s3cret@db.example/candor")

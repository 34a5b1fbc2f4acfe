"""Shared fixtures.

Fixture policy: use the smallest store that has what the test needs, built through candor's own
services (never by writing rows behind their back). Every store test runs on SQLite and, when
CANDOR_TEST_PG_URL is set, on PostgreSQL in a schema of its own that is dropped afterwards;
without that variable the PostgreSQL half is skipped and the run's summary says so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

import candor.services.clients
from candor.services.registry import load_registry
from candor.services.setup import init_deployment
from candor.settings import Settings
from candor.store import Store, open_store

PG_URL = os.environ.get("CANDOR_TEST_PG_URL")
ORIGINAL_TOKEN_HASHER = candor.services.clients._HASHER  # before _quick_token_hashes
TODAY = date(2026, 11, 23)  # tests pin "today" so that date rules give the same answer every day


def pytest_report_header() -> str:
    if PG_URL:
        return f"PostgreSQL tests: ON ({sa.make_url(PG_URL).render_as_string(hide_password=True)})"
    return "PostgreSQL tests: OFF — set CANDOR_TEST_PG_URL to run them (CI does)"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not PG_URL:
        terminalreporter.write_sep(
            "=",
            "PostgreSQL tests were SKIPPED: CANDOR_TEST_PG_URL is not set",
            yellow=True,
            bold=True,
        )


def _pg_schema_url(schema: str) -> str:
    assert PG_URL is not None
    url = sa.make_url(PG_URL).set(drivername="postgresql+psycopg")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    if not PG_URL:
        pytest.skip("PostgreSQL: CANDOR_TEST_PG_URL is not set")
    engine = sa.create_engine(sa.make_url(PG_URL).set(drivername="postgresql+psycopg"))
    yield engine
    engine.dispose()


def new_database_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL for an empty store of the given kind, removed after the test."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'candor.db'}"
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')

    request.addfinalizer(drop)
    return _pg_schema_url(schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store's URL, on each engine in turn."""
    return new_database_url(request.param, tmp_path, request)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a fresh deployment (store migrated, secret created) in tmp_path."""
    result = Settings.load(
        environ={},
        database_url=database_url,
        secret_file=tmp_path / "candor.secret",
        ingest_batch_rows=1000,
    )
    init_deployment(result)
    return result


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings.database_url) as opened:
        yield opened


@pytest.fixture
def registry(settings: Settings):  # type: ignore[no-untyped-def]
    return load_registry(settings)


@pytest.fixture(autouse=True)
def _quick_token_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests make hundreds of tokens: argon2id with 1 pass over 1 MiB instead of 3 over 64 MiB.

    The hash is still argon2id, verified the same way; ``test_access`` checks the deployed
    parameters on a token made without this.
    """
    monkeypatch.setattr(
        candor.services.clients, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024)
    )

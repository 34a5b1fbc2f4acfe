"""Schema migrations (Alembic), run from code: `candor init` upgrades, everything else checks."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from candor.errors import ConfigurationError
from candor.store.database import Store

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store) -> tuple[str | None, str]:
    """Bring the store's schema to the newest revision. Returns (before, after)."""
    before = current_revision(store)
    config = _config()
    with store.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return before, head_revision()


def check_current(store: Store) -> None:
    """Raise ConfigurationError unless the store exists at the newest schema revision."""
    current = current_revision(store) if store.has_table("alembic_version") else None
    if current is None:
        raise ConfigurationError(
            f"there is no candor store at {store.display_url}; run `candor init` first"
        )
    if current != head_revision():
        raise ConfigurationError(
            f"the store at {store.display_url} has schema revision {current}, this candor "
            f"needs {head_revision()}; run `candor init` to migrate it"
        )

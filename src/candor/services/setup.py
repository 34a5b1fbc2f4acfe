"""Setting up a deployment: the store's schema and the deployment secret."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from candor.services.secret import create_secret_file, load_secret
from candor.settings import Settings
from candor.store import Store
from candor.store.database import ensure_sqlite_directory
from candor.store.migrate import upgrade


@dataclass(frozen=True)
class InitResult:
    store: str
    schema_before: str | None
    schema: str
    secret_file: Path | None  # None when the secret comes from the environment
    secret_created: bool


def init_deployment(settings: Settings) -> InitResult:
    """Create or migrate the store and create the secret if there is none. Safe to repeat."""
    created = False
    secret_file: Path | None = None
    if not settings.secret:
        secret_file = settings.secret_file
        created = create_secret_file(secret_file)
    load_secret(settings)  # fail now, not at the first ingestion, if it is unusable
    ensure_sqlite_directory(settings.database_url)
    with Store(settings.database_url) as store:
        before, after = upgrade(store)
        return InitResult(store.display_url, before, after, secret_file, created)

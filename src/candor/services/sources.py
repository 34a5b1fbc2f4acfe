"""Registering sources and their mandates."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from candor.domain.registry import Registry
from candor.errors import Conflict, InvalidInput, NotFound
from candor.store import Store
from candor.store import sources as source_rows
from candor.store.sources import SourceRow

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class SourceAdded:
    source: SourceRow
    created: bool  # False when an identical source was already registered


def _check_types(registry: Registry, types: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(t.strip() for t in types if t.strip())
    if not wanted:
        raise InvalidInput("a mandate names at least one record type")
    unknown = sorted(t for t in wanted if registry.get(t) is None)
    if unknown:
        raise InvalidInput(
            f"record type(s) not in the registry: {', '.join(unknown)}", unknown=unknown
        )
    return wanted


def add_source(
    store: Store, registry: Registry, name: str, types: Iterable[str], description: str = ""
) -> SourceAdded:
    """Register a source with the record types it may submit.

    Registering the same source with the same mandate again changes nothing; with a different
    mandate it is refused — grant or revoke types instead, so every change is explicit.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            "a source name is 1-64 characters: lower-case letters, digits, '_', '.', '-'"
        )
    mandate = _check_types(registry, types)
    now = datetime.now(UTC)
    with store.write() as conn:
        existing = source_rows.get_source(conn, name)
        if existing is not None:
            if existing.mandate == mandate:
                return SourceAdded(existing, created=False)
            raise Conflict(
                f"source {name!r} is already registered with a different mandate; use "
                "`candor sources grant` or `candor sources revoke` to change it"
            )
        source_id = source_rows.insert_source(conn, name, description, now)
        source_rows.grant(conn, source_id, mandate, now)
        created = source_rows.get_source(conn, name)
    assert created is not None
    return SourceAdded(created, created=True)


def change_mandate(
    store: Store,
    registry: Registry,
    name: str,
    *,
    grant: Iterable[str] = (),
    revoke: Iterable[str] = (),
) -> SourceRow:
    """Grant and/or revoke record types in a source's mandate."""
    granted = _check_types(registry, grant) if grant else frozenset()
    revoked = frozenset(revoke)
    now = datetime.now(UTC)
    with store.write() as conn:
        source = require_source(conn_source=source_rows.get_source(conn, name), name=name)
        source_rows.grant(conn, source.id, granted - source.mandate, now)
        source_rows.revoke(conn, source.id, revoked & source.mandate)
        changed = source_rows.get_source(conn, name)
    assert changed is not None
    return changed


def require_source(*, conn_source: SourceRow | None, name: str) -> SourceRow:
    if conn_source is None:
        raise NotFound(
            f"no source named {name!r}; register it with `candor sources add {name} --types …`"
        )
    return conn_source


def get_source(store: Store, name: str) -> SourceRow:
    with store.read() as conn:
        return require_source(conn_source=source_rows.get_source(conn, name), name=name)


def list_sources(store: Store) -> list[SourceRow]:
    with store.read() as conn:
        return source_rows.list_sources(conn)

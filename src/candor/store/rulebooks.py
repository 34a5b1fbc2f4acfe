"""Stored rulebook versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, select

from candor.store.tables import rulebooks


@dataclass(frozen=True)
class StoredRulebook:
    id: int
    name: str
    version: str
    title: str
    content: str
    digest: str
    effective_from: date
    activated_at: datetime
    activated_by: str | None  # None: activated before revision 0012


def _stored(row: object) -> StoredRulebook:
    return StoredRulebook(**row._mapping)  # type: ignore[attr-defined]


def find(conn: Connection, name: str, version: str) -> StoredRulebook | None:
    row = conn.execute(
        select(rulebooks).where(rulebooks.c.name == name, rulebooks.c.version == version)
    ).first()
    return _stored(row) if row else None


def add(
    conn: Connection,
    *,
    name: str,
    version: str,
    title: str,
    content: str,
    digest: str,
    effective_from: date,
    now: datetime,
    by: str,
) -> int:
    result = conn.execute(
        insert(rulebooks)
        .values(
            name=name,
            version=version,
            title=title,
            content=content,
            digest=digest,
            effective_from=effective_from,
            activated_at=now,
            activated_by=by,
        )
        .returning(rulebooks.c.id)
    )
    return int(result.scalar_one())


def every(conn: Connection) -> list[StoredRulebook]:
    """All stored versions, by name then effective date."""
    query = select(rulebooks).order_by(rulebooks.c.name, rulebooks.c.effective_from, rulebooks.c.id)
    return [_stored(r) for r in conn.execute(query)]


def governing(conn: Connection, as_of: date) -> list[StoredRulebook]:
    """Per rulebook name, the version that governs ``as_of``: the latest effective by then
    (the later activation when two take effect the same day)."""
    latest: dict[str, StoredRulebook] = {}
    for stored in every(conn):
        if stored.effective_from <= as_of:
            latest[stored.name] = stored  # `every` orders by effective date, then id
    return sorted(latest.values(), key=lambda s: s.name)

"""Sources and their mandates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from candor.store.tables import source_mandates, sources


@dataclass(frozen=True)
class SourceRow:
    id: int
    name: str
    description: str
    mandate: frozenset[str]
    created_at: datetime


def _mandates(conn: Connection, source_ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {i: set() for i in source_ids}
    rows = conn.execute(
        select(source_mandates.c.source_id, source_mandates.c.record_type).where(
            source_mandates.c.source_id.in_(source_ids)
        )
    )
    for source_id, record_type in rows:
        out[source_id].add(record_type)
    return out


def get_source(conn: Connection, name: str) -> SourceRow | None:
    row = conn.execute(select(sources).where(sources.c.name == name)).one_or_none()
    if row is None:
        return None
    mandate = _mandates(conn, [row.id])[row.id]
    return SourceRow(row.id, row.name, row.description, frozenset(mandate), row.created_at)


def list_sources(conn: Connection) -> list[SourceRow]:
    rows = conn.execute(select(sources).order_by(sources.c.name)).all()
    mandates = _mandates(conn, [r.id for r in rows])
    return [
        SourceRow(r.id, r.name, r.description, frozenset(mandates[r.id]), r.created_at)
        for r in rows
    ]


def insert_source(conn: Connection, name: str, description: str, now: datetime) -> int:
    result = conn.execute(
        insert(sources)
        .values(name=name, description=description, created_at=now)
        .returning(sources.c.id)
    )
    return int(result.scalar_one())


def grant(conn: Connection, source_id: int, record_types: Iterable[str], now: datetime) -> None:
    rows = [
        {"source_id": source_id, "record_type": t, "granted_at": now} for t in sorted(record_types)
    ]
    if rows:
        conn.execute(insert(source_mandates), rows)


def revoke(conn: Connection, source_id: int, record_types: Iterable[str]) -> None:
    types = sorted(record_types)
    if types:
        conn.execute(
            delete(source_mandates).where(
                source_mandates.c.source_id == source_id,
                source_mandates.c.record_type.in_(types),
            )
        )

"""Clients, their token hashes and their daily bulk usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from candor.store.tables import client_tokens, client_usage, clients, sources, subjects


@dataclass(frozen=True)
class ClientRow:
    id: int
    name: str
    role: str
    description: str
    source: str | None
    subject_id: int | None
    subject_ref: str | None
    measures: tuple[str, ...]
    purposes: tuple[str, ...]
    rate_per_minute: int | None
    bulk_per_day: int | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenRow:
    id: int
    public_id: str
    client_id: int
    kind: str
    hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    used_at: datetime | None


def _client_query() -> Any:
    return (
        select(
            clients,
            sources.c.name.label("source_name"),
            subjects.c.ref.label("subject_ref"),
        )
        .outerjoin(sources, sources.c.id == clients.c.source_id)
        .outerjoin(subjects, subjects.c.id == clients.c.subject_id)
    )


def _client(row: Any) -> ClientRow:
    return ClientRow(
        id=row.id,
        name=row.name,
        role=row.role,
        description=row.description,
        source=row.source_name,
        subject_id=row.subject_id,
        subject_ref=row.subject_ref,
        measures=tuple(row.measures),
        purposes=tuple(row.purposes),
        rate_per_minute=row.rate_per_minute,
        bulk_per_day=row.bulk_per_day,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def get_client(
    conn: Connection, *, name: str | None = None, id: int | None = None
) -> ClientRow | None:
    query = _client_query()
    query = query.where(clients.c.name == name) if name is not None else query
    query = query.where(clients.c.id == id) if id is not None else query
    row = conn.execute(query).one_or_none()
    return None if row is None else _client(row)


def subject_client(conn: Connection, subject_id: int) -> ClientRow | None:
    row = conn.execute(
        _client_query().where(clients.c.subject_id == subject_id, clients.c.role == "subject")
    ).first()
    return None if row is None else _client(row)


def list_clients(conn: Connection) -> list[ClientRow]:
    return [_client(r) for r in conn.execute(_client_query().order_by(clients.c.name))]


def insert_client(conn: Connection, **values: Any) -> int:
    return int(conn.execute(insert(clients).values(**values).returning(clients.c.id)).scalar_one())


def revoke_client(conn: Connection, client_id: int, now: datetime) -> None:
    conn.execute(
        update(clients)
        .where(clients.c.id == client_id, clients.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        update(client_tokens)
        .where(client_tokens.c.client_id == client_id, client_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def insert_token(conn: Connection, **values: Any) -> None:
    conn.execute(insert(client_tokens).values(**values))


def _token(row: Any) -> TokenRow:
    return TokenRow(
        row.id,
        row.public_id,
        row.client_id,
        row.kind,
        row.hash,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.used_at,
    )


def get_token(conn: Connection, public_id: str) -> TokenRow | None:
    row = conn.execute(
        select(client_tokens).where(client_tokens.c.public_id == public_id)
    ).one_or_none()
    return None if row is None else _token(row)


def tokens_of(conn: Connection, client_id: int) -> list[TokenRow]:
    rows = conn.execute(
        select(client_tokens)
        .where(client_tokens.c.client_id == client_id)
        .order_by(client_tokens.c.id)
    )
    return [_token(r) for r in rows]


def revoke_token(conn: Connection, public_id: str, now: datetime) -> bool:
    done = conn.execute(
        update(client_tokens)
        .where(client_tokens.c.public_id == public_id, client_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return done.rowcount == 1


def spend_token(conn: Connection, token_id: int, now: datetime) -> bool:
    """Mark a one-time token used. False when it was already spent (by a racing request)."""
    done = conn.execute(
        update(client_tokens)
        .where(client_tokens.c.id == token_id, client_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    return done.rowcount == 1


def add_bulk_usage(conn: Connection, client_id: int, day: date, count: int, cap: int) -> int | None:
    """Count ``count`` more identifiers against the client's day; None (and nothing counted)
    when that would pass ``cap``. Returns the day's total after counting.

    The row is created first, then raised with a guarded UPDATE in the same write transaction,
    so two servers counting at once cannot both slip under the cap.
    """
    exists = conn.execute(
        select(client_usage.c.bulk_identifiers).where(
            client_usage.c.client_id == client_id, client_usage.c.day == day
        )
    ).scalar_one_or_none()
    if exists is None:
        conn.execute(insert(client_usage).values(client_id=client_id, day=day, bulk_identifiers=0))
    done = conn.execute(
        update(client_usage)
        .where(
            client_usage.c.client_id == client_id,
            client_usage.c.day == day,
            client_usage.c.bulk_identifiers + count <= cap,
        )
        .values(bulk_identifiers=client_usage.c.bulk_identifiers + count)
        .returning(client_usage.c.bulk_identifiers)
    ).scalar_one_or_none()
    return None if done is None else int(done)

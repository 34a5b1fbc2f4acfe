"""The access log: every read of a subject's data, and the checks made about a subject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from candor.store.tables import accesses, checks, listings


@dataclass(frozen=True)
class AccessRow:
    accessed_at: datetime
    client: str
    role: str
    purpose: str
    action: str
    subject_id: int | None
    returned: str


def log_accesses(conn: Connection, rows: Sequence[AccessRow]) -> None:
    if rows:
        conn.execute(
            insert(accesses),
            [
                {
                    "accessed_at": r.accessed_at,
                    "client": r.client,
                    "role": r.role,
                    "purpose": r.purpose,
                    "action": r.action,
                    "subject_id": r.subject_id,
                    "returned": r.returned,
                }
                for r in rows
            ],
        )


def accesses_of(conn: Connection, subject_id: int, *, limit: int) -> list[AccessRow]:
    rows = conn.execute(
        select(accesses)
        .where(accesses.c.subject_id == subject_id)
        .order_by(accesses.c.id.desc())
        .limit(limit)
    )
    return [
        AccessRow(r.accessed_at, r.client, r.role, r.purpose, r.action, r.subject_id, r.returned)
        for r in rows
    ]


@dataclass(frozen=True)
class CheckSeen:
    checked_at: datetime
    client: str
    purpose: str
    measure: str
    as_of: date
    applies: bool
    listing_ref: str | None
    until: date | None


def checks_of(conn: Connection, subject_id: int, *, limit: int) -> list[CheckSeen]:
    """The latest checks made about a subject: who asked, why, when and the answer given."""
    rows: Any = conn.execute(
        select(
            checks.c.checked_at,
            checks.c.client,
            checks.c.purpose,
            checks.c.measure,
            checks.c.as_of,
            checks.c.applies,
            listings.c.ref,
            checks.c.until,
        )
        .outerjoin(listings, listings.c.id == checks.c.listing_id)
        .where(checks.c.subject_id == subject_id)
        .order_by(checks.c.id.desc())
        .limit(limit)
    )
    return [CheckSeen(*r) for r in rows]

"""Repair applications in the store: filed, moved through their states, found when open or
overdue, with the listing each is about."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from candor.domain.repair import OPEN
from candor.store.tables import listings, records, repair_attachments, repairs, rulebooks

OPEN_STATES = tuple(state.value for state in OPEN)  # the domain says which are open


def new_ref() -> str:
    return "R" + secrets.token_hex(8).upper()


def add(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(repairs).values(**values).returning(repairs.c.id)).scalar_one())


def add_attachment(
    conn: Connection, repair_id: int, name: str, media_type: str, content: bytes, now: datetime
) -> None:
    conn.execute(
        insert(repair_attachments).values(
            repair_id=repair_id,
            name=name,
            media_type=media_type,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            added_at=now,
        )
    )


def _with_listing() -> Select[Any]:
    """Applications with their listing's reference and list."""
    return select(repairs, listings.c.ref.label("listing"), listings.c.list_name).join(
        listings, listings.c.id == repairs.c.listing_id
    )


def by_ref(conn: Connection, ref: str) -> dict[str, Any] | None:
    row = conn.execute(_with_listing().where(repairs.c.ref == ref)).first()
    return dict(row._mapping) if row is not None else None


def change(conn: Connection, repair_id: int, expected_state: str, values: dict[str, Any]) -> bool:
    """Move an application on, only if it is still in ``expected_state`` (two reviewers acting
    at once: the second finds it moved)."""
    result = conn.execute(
        update(repairs)
        .where(repairs.c.id == repair_id, repairs.c.state == expected_state)
        .values(**values)
    )
    return bool(result.rowcount)


def _listings() -> Select[Any]:
    return select(
        listings.c.id,
        listings.c.ref,
        listings.c.subject_id,
        listings.c.list_name,
        listings.c.record_id,
        listings.c.criterion,
        listings.c.starts_on,
        listings.c.ends_on,
        listings.c.removed_on,
        listings.c.withdrawn_on,
        rulebooks.c.id.label("rulebook_id"),
        rulebooks.c.content.label("rulebook_content"),
    ).join(rulebooks, rulebooks.c.id == listings.c.rulebook_id)


def listing_of(conn: Connection, subject_id: int, listing_ref: str) -> dict[str, Any] | None:
    """One of the subject's listings with its rulebook version's text (which says whether and
    when the list allows repair)."""
    row = conn.execute(
        _listings().where(listings.c.ref == listing_ref, listings.c.subject_id == subject_id)
    ).first()
    return dict(row._mapping) if row is not None else None


def listing_by_id(conn: Connection, listing_id: int) -> dict[str, Any]:
    return dict(conn.execute(_listings().where(listings.c.id == listing_id)).one()._mapping)


def record(conn: Connection, record_id: int) -> dict[str, Any]:
    return dict(conn.execute(select(records).where(records.c.id == record_id)).one()._mapping)


def open_for_listing(conn: Connection, listing_id: int) -> str | None:
    """The reference of an open application about the listing, if there is one."""
    ref = conn.execute(
        select(repairs.c.ref).where(
            repairs.c.listing_id == listing_id, repairs.c.state.in_(OPEN_STATES)
        )
    ).scalar()
    return str(ref) if ref is not None else None


def of_subject(conn: Connection, subject_id: int) -> list[dict[str, Any]]:
    """The subject's applications, oldest first, each with its listing's reference and list."""
    return [
        dict(r._mapping)
        for r in conn.execute(
            _with_listing()
            .where(repairs.c.subject_id == subject_id)
            .order_by(repairs.c.filed_at, repairs.c.id)
        )
    ]


def attachments_of(conn: Connection, repair_ids: Sequence[int]) -> list[dict[str, Any]]:
    if not repair_ids:
        return []
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(
                repair_attachments.c.repair_id,
                repair_attachments.c.name,
                repair_attachments.c.media_type,
                repair_attachments.c.sha256,
                repair_attachments.c.added_at,
            )
            .where(repair_attachments.c.repair_id.in_(list(repair_ids)))
            .order_by(repair_attachments.c.id)
        )
    ]


def overdue(conn: Connection, today: date) -> list[dict[str, Any]]:
    """Open applications past their review deadline, oldest deadline first."""
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(repairs.c.ref, repairs.c.state, repairs.c.due_on, repairs.c.reviewer)
            .where(repairs.c.state.in_(OPEN_STATES), repairs.c.due_on < today)
            .order_by(repairs.c.due_on, repairs.c.id)
        )
    ]

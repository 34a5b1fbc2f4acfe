"""Objections in the store: filed, moved through their states, found when open or overdue."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from candor.domain.objections import OPEN
from candor.store.tables import objection_attachments, objections

OPEN_STATES = tuple(state.value for state in OPEN)  # the domain says which are open


def new_ref() -> str:
    return "O" + secrets.token_hex(8).upper()


def add(conn: Connection, values: dict[str, Any]) -> int:
    return int(
        conn.execute(insert(objections).values(**values).returning(objections.c.id)).scalar_one()
    )


def add_attachment(
    conn: Connection, objection_id: int, name: str, media_type: str, content: bytes, now: datetime
) -> None:
    conn.execute(
        insert(objection_attachments).values(
            objection_id=objection_id,
            name=name,
            media_type=media_type,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            added_at=now,
        )
    )


def by_ref(conn: Connection, ref: str) -> dict[str, Any] | None:
    row = conn.execute(select(objections).where(objections.c.ref == ref)).first()
    return dict(row._mapping) if row is not None else None


def change(
    conn: Connection, objection_id: int, expected_state: str, values: dict[str, Any]
) -> bool:
    """Move an objection on, only if it is still in ``expected_state`` (two reviewers acting at
    once: the second finds it moved)."""
    result = conn.execute(
        update(objections)
        .where(objections.c.id == objection_id, objections.c.state == expected_state)
        .values(**values)
    )
    return bool(result.rowcount)


def of_subject(conn: Connection, subject_id: int) -> list[dict[str, Any]]:
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(objections)
            .where(objections.c.subject_id == subject_id)
            .order_by(objections.c.filed_at, objections.c.id)
        )
    ]


def attachments_of(conn: Connection, objection_ids: Sequence[int]) -> list[dict[str, Any]]:
    if not objection_ids:
        return []
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(
                objection_attachments.c.objection_id,
                objection_attachments.c.name,
                objection_attachments.c.media_type,
                objection_attachments.c.sha256,
                objection_attachments.c.added_at,
            )
            .where(objection_attachments.c.objection_id.in_(list(objection_ids)))
            .order_by(objection_attachments.c.id)
        )
    ]


_FEW = 1_000


def disputed(conn: Connection, subject_ids: Sequence[int]) -> set[int]:
    """The subjects among ``subject_ids`` with an objection open."""
    if not subject_ids:
        return set()
    query = select(objections.c.subject_id).where(objections.c.state.in_(OPEN_STATES))
    if len(subject_ids) > _FEW:
        # A bulk check's million subjects: few objections are open at once, so read them all
        # rather than bind a parameter per subject.
        wanted = set(subject_ids)
        return {int(s) for s in conn.execute(query.distinct()).scalars() if s in wanted}
    query = query.where(objections.c.subject_id.in_(list(subject_ids)))
    return {int(s) for s in conn.execute(query.distinct()).scalars()}


def overdue(conn: Connection, today: date) -> list[dict[str, Any]]:
    """Objections whose review or appeal is past its deadline, oldest deadline first."""
    late = or_(
        and_(objections.c.state.in_(("filed", "in_review")), objections.c.due_on < today),
        and_(objections.c.state == "appealed", objections.c.appeal_due_on < today),
    )
    return [
        dict(r._mapping)
        for r in conn.execute(select(objections).where(late).order_by(objections.c.due_on))
    ]


def unappealed_since(conn: Connection, decided_before: datetime) -> list[int]:
    return [
        int(i)
        for i in conn.execute(
            select(objections.c.id).where(
                objections.c.state == "decided", objections.c.decided_at < decided_before
            )
        ).scalars()
    ]

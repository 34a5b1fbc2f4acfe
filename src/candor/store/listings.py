"""Reading stored listings by list: the entries in force on a date, page by page."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from candor.store.tables import listings, subjects


def _in_force(as_of: date) -> Any:
    return and_(
        listings.c.starts_on <= as_of,
        or_(listings.c.ends_on.is_(None), listings.c.ends_on > as_of),
        or_(listings.c.removed_on.is_(None), listings.c.removed_on > as_of),
        listings.c.withdrawn_on.is_(None),
    )


def entries(
    conn: Connection, rulebook_id: int, list_name: str, as_of: date, *, after: int, limit: int
) -> list[dict[str, Any]]:
    """Listings in force on ``as_of``, in id order after the listing id ``after``."""
    rows = conn.execute(
        select(
            listings.c.id,
            listings.c.ref,
            subjects.c.ref.label("subject"),
            subjects.c.kind,
            listings.c.criterion,
            listings.c.starts_on,
            listings.c.ends_on,
            listings.c.removed_on,
        )
        .join(subjects, subjects.c.id == listings.c.subject_id)
        .where(
            listings.c.rulebook_id == rulebook_id,
            listings.c.list_name == list_name,
            listings.c.id > after,
            _in_force(as_of),
        )
        .order_by(listings.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def counts(conn: Connection, rulebook_ids: list[int], as_of: date) -> dict[tuple[int, str], int]:
    """(rulebook id, list name) → listings in force on ``as_of``."""
    rows = conn.execute(
        select(listings.c.rulebook_id, listings.c.list_name, func.count())
        .where(listings.c.rulebook_id.in_(rulebook_ids), _in_force(as_of))
        .group_by(listings.c.rulebook_id, listings.c.list_name)
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def subjects_listed(conn: Connection, rulebook_ids: list[int], as_of: date) -> set[int]:
    rows = conn.execute(
        select(listings.c.subject_id)
        .where(listings.c.rulebook_id.in_(rulebook_ids), _in_force(as_of))
        .distinct()
    )
    return {int(r[0]) for r in rows}

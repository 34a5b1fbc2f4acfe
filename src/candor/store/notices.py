"""Notices and their deliveries: writing them, claiming due deliveries, recording attempts.

A sender claims due deliveries in one short write transaction, sends outside it, and records
each result in another. Claiming counts the attempt and moves ``next_attempt_at`` forward by a
lease, so that no other sender finds the row due while it is in flight; recording is fenced on
the attempt count, so a sender that outlived its lease cannot overwrite a later attempt's result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from candor.store.bulk import driver_value, insert_rows, reserve_ids
from candor.store.tables import clients, notice_addresses, notice_deliveries, notices, subjects

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
INTERRUPTED = "the last attempt was interrupted before its result was recorded"


@dataclass(frozen=True)
class NoticeRow:
    id: int
    subject_id: int | None
    client_id: int | None
    kind: str
    title: str
    body: str
    data: Any
    created_at: datetime


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by one sender for one attempt, with its notice."""

    id: int
    channel: str
    address: str
    attempts: int  # including this attempt: the fence its result is recorded under
    notice: NoticeRow


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    notice_id: int
    kind: str
    title: str
    subject_ref: str | None
    client: str | None
    channel: str
    address: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime


def insert_notice(
    conn: Connection,
    *,
    subject_id: int | None,
    client_id: int | None,
    kind: str,
    title: str,
    body: str,
    data: Mapping[str, Any],
    now: datetime,
    deliver_to: Sequence[tuple[str, str]],
) -> int:
    """Insert a notice and one pending delivery, due ``now``, per (channel, address)."""
    notice_id = conn.execute(
        insert(notices)
        .values(
            subject_id=subject_id,
            client_id=client_id,
            kind=kind,
            title=title,
            body=body,
            data=dict(data),
            created_at=now,
        )
        .returning(notices.c.id)
    ).scalar_one()
    if deliver_to:
        conn.execute(
            insert(notice_deliveries),
            [
                {
                    "notice_id": notice_id,
                    "channel": channel,
                    "address": address,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for channel, address in deliver_to
            ],
        )
    return int(notice_id)


@dataclass(frozen=True)
class NewNotice:
    """A notice to write in bulk (see ``insert_notices``): for a subject or a relying party."""

    kind: str
    title: str
    body: str
    data: Mapping[str, Any]
    subject_id: int | None = None
    client_id: int | None = None


NOTICE_COLUMNS = ("id", "subject_id", "client_id", "kind", "title", "body", "data", "created_at")
DELIVERY_COLUMNS = ("notice_id", "channel", "address", "status", "attempts", "next_attempt_at")


def insert_notices(conn: Connection, new: Sequence[NewNotice], now: datetime) -> list[int]:
    """Insert many notices at once — a rating run may tell thousands of subjects — each with one
    pending delivery, due ``now``, per address its recipient gave (``addresses_of``). Returns
    the notices' ids, in order."""
    if not new:
        return []
    ids = reserve_ids(conn, notices, len(new))
    stamp = driver_value(conn, notices, "created_at", now)
    insert_rows(
        conn,
        notices,
        NOTICE_COLUMNS,
        [
            (
                i,
                n.subject_id,
                n.client_id,
                n.kind,
                n.title,
                n.body,
                # JSON text: what both drivers take for JSON (and COPY for JSONB).
                orjson.dumps(dict(n.data)).decode(),
                stamp,
            )
            for i, n in zip(ids, new, strict=True)
        ],
    )
    # Most deployments hold few addresses, or none: then there is nothing to look up per notice.
    anyone = conn.execute(select(notice_addresses.c.id).limit(1)).first() is not None
    subjects_to = (
        addresses_of(conn, subject_ids={n.subject_id for n in new} - {None}) if anyone else {}
    )
    clients_to = (
        addresses_of(conn, client_ids={n.client_id for n in new} - {None}) if anyone else {}
    )
    due = driver_value(conn, notice_deliveries, "next_attempt_at", now)
    deliveries = [
        (i, channel, address, PENDING, 0, due)
        for i, n in zip(ids, new, strict=True)
        for channel, address in (
            subjects_to.get(n.subject_id, []) if n.subject_id is not None else []
        )
        + (clients_to.get(n.client_id, []) if n.client_id is not None else [])
    ]
    insert_rows(conn, notice_deliveries, DELIVERY_COLUMNS, deliveries)
    return ids


def addresses_of(
    conn: Connection, *, subject_ids: Iterable[Any] = (), client_ids: Iterable[Any] = ()
) -> dict[int, list[tuple[str, str]]]:
    """The (channel, address) pairs each subject (or each client) gave for its notices."""
    column = notice_addresses.c.subject_id if subject_ids else notice_addresses.c.client_id
    wanted = sorted(subject_ids or client_ids)
    found: dict[int, list[tuple[str, str]]] = {}
    for i in range(0, len(wanted), 10_000):  # bound parameters per statement
        rows = conn.execute(
            select(column, notice_addresses.c.channel, notice_addresses.c.address)
            .where(column.in_(wanted[i : i + 10_000]))
            .order_by(notice_addresses.c.id)
        )
        for owner, channel, address in rows:
            found.setdefault(owner, []).append((channel, address))
    return found


def add_address(
    conn: Connection,
    *,
    subject_id: int | None,
    client_id: int | None,
    channel: str,
    address: str,
    added_by: str,
    now: datetime,
) -> bool:
    """Record an address for a recipient's notices; False when it was there already."""
    exists = conn.execute(
        select(notice_addresses.c.id).where(
            notice_addresses.c.subject_id.is_(None)
            if subject_id is None
            else notice_addresses.c.subject_id == subject_id,
            notice_addresses.c.client_id.is_(None)
            if client_id is None
            else notice_addresses.c.client_id == client_id,
            notice_addresses.c.channel == channel,
            notice_addresses.c.address == address,
        )
    ).first()
    if exists:
        return False
    conn.execute(
        insert(notice_addresses).values(
            subject_id=subject_id,
            client_id=client_id,
            channel=channel,
            address=address,
            added_at=now,
            added_by=added_by,
        )
    )
    return True


def remove_address(
    conn: Connection, *, subject_id: int | None, client_id: int | None, channel: str, address: str
) -> bool:
    owner = (
        notice_addresses.c.subject_id == subject_id
        if subject_id is not None
        else notice_addresses.c.client_id == client_id
    )
    result = conn.execute(
        delete(notice_addresses).where(
            owner, notice_addresses.c.channel == channel, notice_addresses.c.address == address
        )
    )
    return bool(result.rowcount)


def get_notice(conn: Connection, notice_id: int) -> NoticeRow | None:
    row = conn.execute(select(notices).where(notices.c.id == notice_id)).one_or_none()
    return None if row is None else _notice(row)


def _notice(row: Any) -> NoticeRow:
    return NoticeRow(
        id=row.id,
        subject_id=row.subject_id,
        client_id=row.client_id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        data=row.data,
        created_at=row.created_at,
    )


def _due(now: datetime, channels: Iterable[str]) -> Any:
    return and_(
        notice_deliveries.c.status == PENDING,
        notice_deliveries.c.next_attempt_at <= now,
        notice_deliveries.c.channel.in_(list(channels)),
    )


@dataclass(frozen=True)
class Claim:
    claimed: list[Claimed]
    gave_up: int  # due rows that had had their last attempt already, now marked failed


def claim_due(
    conn: Connection,
    *,
    now: datetime,
    channels: Sequence[str],
    limit: int,
    lease: timedelta,
    max_attempts: int,
) -> Claim:
    """Take up to ``limit`` due deliveries on ``channels`` for one attempt each, oldest due
    first: count the attempt and make the row due again only after ``lease``.

    A due row that has had ``max_attempts`` already (its last attempt was interrupted before
    its result was recorded) is marked failed instead.

    On PostgreSQL rows another sender has locked are skipped (``FOR UPDATE SKIP LOCKED``), and a
    row another sender claimed and committed meanwhile no longer matches; on SQLite the write
    transaction (``BEGIN IMMEDIATE``) serialises claims.
    """
    if not channels:
        return Claim([], 0)
    due = conn.execute(
        select(notice_deliveries.c.id, notice_deliveries.c.attempts)
        .where(_due(now, channels))
        .order_by(notice_deliveries.c.next_attempt_at, notice_deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # SQLite: no such clause, and none needed
    ).all()
    spent = [int(i) for i, attempts in due if attempts >= max_attempts]
    ids = [int(i) for i, attempts in due if attempts < max_attempts]
    if spent:
        conn.execute(
            update(notice_deliveries)
            .where(notice_deliveries.c.id.in_(spent))
            .values(status=FAILED, next_attempt_at=None, last_error=INTERRUPTED)
        )
    if not ids:
        return Claim([], len(spent))
    conn.execute(
        update(notice_deliveries)
        .where(notice_deliveries.c.id.in_(ids))
        .values(
            attempts=notice_deliveries.c.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=now + lease,
        )
    )
    rows = conn.execute(
        select(
            notice_deliveries.c.id.label("delivery_id"),
            notice_deliveries.c.channel,
            notice_deliveries.c.address,
            notice_deliveries.c.attempts,
            notices,
        )
        .join(notices, notices.c.id == notice_deliveries.c.notice_id)
        .where(notice_deliveries.c.id.in_(ids))
        .order_by(notice_deliveries.c.id)
    ).all()
    claimed = [
        Claimed(
            id=row.delivery_id,
            channel=row.channel,
            address=row.address,
            attempts=row.attempts,
            notice=_notice(row),
        )
        for row in rows
    ]
    return Claim(claimed, len(spent))


def note_waiting(conn: Connection, *, now: datetime, channel: str, reason: str) -> int:
    """Say on every due delivery on ``channel`` why it waits (without counting an attempt);
    return how many wait."""
    conn.execute(
        update(notice_deliveries)
        .where(
            _due(now, [channel]),
            or_(
                notice_deliveries.c.last_error.is_(None),
                notice_deliveries.c.last_error != reason,
            ),
        )
        .values(last_error=reason)
    )
    return int(
        conn.execute(
            select(func.count()).select_from(notice_deliveries).where(_due(now, [channel]))
        ).scalar_one()
    )


def _fenced(delivery_id: int, attempts: int) -> Any:
    return and_(
        notice_deliveries.c.id == delivery_id,
        notice_deliveries.c.attempts == attempts,
        notice_deliveries.c.status == PENDING,
    )


def record_delivered(conn: Connection, delivery_id: int, attempts: int, now: datetime) -> bool:
    """Mark a claimed delivery delivered; False when a later attempt has taken it over."""
    result = conn.execute(
        update(notice_deliveries)
        .where(_fenced(delivery_id, attempts))
        .values(status=DELIVERED, delivered_at=now, next_attempt_at=None, last_error=None)
    )
    return result.rowcount == 1


def record_failure(
    conn: Connection,
    delivery_id: int,
    attempts: int,
    *,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """Record a failed attempt: due again at ``retry_at``, or failed for good when None.
    False when a later attempt has taken the delivery over."""
    values: dict[str, Any] = {"last_error": error[:500], "next_attempt_at": retry_at}
    if retry_at is None:
        values["status"] = FAILED
    result = conn.execute(
        update(notice_deliveries).where(_fenced(delivery_id, attempts)).values(**values)
    )
    return result.rowcount == 1


def release(conn: Connection, delivery_id: int, attempts: int, now: datetime) -> None:
    """Hand a claimed delivery back without an attempt: not counted, due ``now``."""
    conn.execute(
        update(notice_deliveries)
        .where(_fenced(delivery_id, attempts))
        .values(attempts=notice_deliveries.c.attempts - 1, next_attempt_at=now)
    )


def list_deliveries(
    conn: Connection, *, status: str | None = None, limit: int = 100
) -> list[DeliveryRow]:
    """Deliveries, newest notice first; only those in ``status`` when given."""
    query = (
        select(
            notice_deliveries,
            notices.c.kind,
            notices.c.title,
            notices.c.created_at,
            subjects.c.ref.label("subject_ref"),
            clients.c.name.label("client_name"),
        )
        .join(notices, notices.c.id == notice_deliveries.c.notice_id)
        .outerjoin(subjects, subjects.c.id == notices.c.subject_id)
        .outerjoin(clients, clients.c.id == notices.c.client_id)
        .order_by(notice_deliveries.c.notice_id.desc(), notice_deliveries.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(notice_deliveries.c.status == status)
    return [
        DeliveryRow(
            id=row.id,
            notice_id=row.notice_id,
            kind=row.kind,
            title=row.title,
            subject_ref=row.subject_ref,
            client=row.client_name,
            channel=row.channel,
            address=row.address,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            created_at=row.created_at,
        )
        for row in conn.execute(query)
    ]

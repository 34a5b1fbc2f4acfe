"""Ingestion runs, their committed batches, and the rejects each batch recorded.

A run's row says ``running`` from its start until ``finish``. A process that is killed (or whose
machine stops) never gets to ``finish``, and without more its run would say ``running`` for
ever. So a live file run also holds a *claim* on its row, taken in the transaction that inserts
the row — before anyone can see it — and given up after ``finish``: on PostgreSQL a session
advisory lock on a connection of its own, on SQLite an exclusive ``flock`` on a file in a
directory beside the database (``candor.db.running/ID.lock``). The operating system or the
server gives a claim up when its process ends, however it ends. A ``running`` file run whose
claim can be taken is thus one that nobody runs any more; so is an API request's run (one
request, never claimed: a connection each would halve what the pool serves) once it is older
than any request lasts. ``mark_interrupted`` marks such runs failed. Their committed batches
stay, as they are counted; the rows after them were never acknowledged, and ingesting the file
again accepts them (the rows before them count as duplicates).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, func, insert, select, text, update

from candor.domain.rejects import Reject
from candor.errors import ConfigurationError
from candor.store.bulk import insert_rows
from candor.store.tables import ingest_batches, ingestions, rejects

REASON_MAX = 500
INTERRUPTED = (
    "interrupted: the process running this ingestion ended before it finished (killed, or its "
    "machine stopped); the batches it committed are kept and counted, the rows after them were "
    "never acknowledged — ingest the file again to add them"
)
# An API request's run still `running` after this long has lost its process.
API_RUN_MAX = timedelta(hours=1)
# An advisory lock key per run and per ingestions table (one per schema, so that stores in
# schemas of one database do not share keys): the table's oid above the run's id.
_PG_KEY = "(('ingestions'::regclass::oid::bigint << 32) | (:id & 4294967295))"


@dataclass(frozen=True)
class BatchCounts:
    accepted: int
    rejected: int
    duplicates: int
    rows_read: int


def start(
    conn: Connection, source_id: int, channel: str, file_name: str | None, now: datetime
) -> int:
    result = conn.execute(
        insert(ingestions)
        .values(
            source_id=source_id,
            channel=channel,
            file_name=file_name,
            started_at=now,
            status="running",
        )
        .returning(ingestions.c.id)
    )
    return int(result.scalar_one())


def add_batch(
    conn: Connection,
    ingestion_id: int,
    seq: int,
    rows: tuple[int | None, int | None],
    now: datetime,
) -> int:
    """Open a batch of an ingestion; its counts are set by ``count_batch`` before commit."""
    batch_id = conn.execute(
        insert(ingest_batches)
        .values(
            ingestion_id=ingestion_id,
            seq=seq,
            first_row=rows[0],
            last_row=rows[1],
            accepted=0,
            rejected=0,
            duplicates=0,
            committed_at=now,
        )
        .returning(ingest_batches.c.id)
    ).scalar_one()
    return int(batch_id)


def count_batch(conn: Connection, ingestion_id: int, batch_id: int, counts: BatchCounts) -> None:
    """Set a batch's counts and add them to its ingestion, in the batch's own transaction."""
    conn.execute(
        update(ingest_batches)
        .where(ingest_batches.c.id == batch_id)
        .values(accepted=counts.accepted, rejected=counts.rejected, duplicates=counts.duplicates)
    )
    conn.execute(
        update(ingestions)
        .where(ingestions.c.id == ingestion_id)
        .values(
            rows_read=ingestions.c.rows_read + counts.rows_read,
            accepted=ingestions.c.accepted + counts.accepted,
            rejected=ingestions.c.rejected + counts.rejected,
            duplicates=ingestions.c.duplicates + counts.duplicates,
        )
    )


def add_rejects(conn: Connection, batch_id: int, found: Sequence[Reject]) -> None:
    insert_rows(
        conn,
        rejects,
        ("batch_id", "row", "source_record_id", "field", "reason"),
        [(batch_id, r.row, r.source_record_id, r.field, r.reason[:REASON_MAX]) for r in found],
    )


def finish(
    conn: Connection, ingestion_id: int, status: str, now: datetime, error: str | None = None
) -> None:
    conn.execute(
        update(ingestions)
        .where(ingestions.c.id == ingestion_id)
        .values(status=status, finished_at=now, error=error)
    )


class Claim:
    """A live run's hold on its row (see the module's docstring); ``release`` is idempotent."""

    def release(self) -> None:
        """Give the claim up (after the run's last write)."""


class _FileClaim(Claim):
    def __init__(self, path: Path, fd: int) -> None:
        self._path, self._fd = path, fd

    def release(self) -> None:
        if self._fd < 0:
            return
        # Unlinked while still locked: whoever opens the name later finds no file, never a
        # file this process is about to stop holding.
        fd, self._fd = self._fd, -1
        try:
            self._path.unlink(missing_ok=True)
        finally:
            os.close(fd)


class _AdvisoryClaim(Claim):
    def __init__(self, conn: Connection, run_id: int) -> None:
        self._conn: Connection | None = conn
        self._id = run_id

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text(f"SELECT pg_advisory_unlock({_PG_KEY})"), {"id": self._id})
        except Exception:
            # A session lock must never go back to the pool: drop the connection, and with it
            # the lock, instead.
            conn.invalidate()
        finally:
            conn.close()


def _claim_file(conn: Connection, run_id: int) -> Path | None:
    """The file a SQLite store's run ``run_id`` locks; None for a store without a file."""
    database = conn.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    store_file = Path(database)
    return store_file.with_name(f"{store_file.name}.running") / f"{run_id}.lock"


def claim(conn: Connection, run_id: int) -> Claim:
    """Claim run ``run_id``, inside the (open) transaction that inserted its row.

    Raises:
        ConfigurationError: the claim cannot be taken or its lock file written.
    """
    if conn.dialect.name == "postgresql":
        own = conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = own.execute(
                text(f"SELECT pg_try_advisory_lock({_PG_KEY})"), {"id": run_id}
            ).scalar_one()
        except BaseException:
            own.close()
            raise
        if not taken:
            own.close()
            raise ConfigurationError(f"another session holds the claim on ingestion {run_id}")
        return _AdvisoryClaim(own, run_id)
    path = _claim_file(conn, run_id)
    if path is None:  # an in-memory store: no other process can see its runs
        return Claim()
    try:
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise ConfigurationError(
            f"cannot write the run lock {path.name} beside the store ({e.strerror})"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ConfigurationError(
            f"another process holds the claim on ingestion {run_id} of this store"
        ) from None
    return _FileClaim(path, fd)


def _abandoned(conn: Connection, run_id: int, after_commit: contextlib.ExitStack) -> bool:
    """Whether nobody holds run ``run_id``'s claim; if so, hold it until ``after_commit``."""
    if conn.dialect.name == "postgresql":
        # Held to the end of this transaction, so two sweeps never both take it.
        return bool(
            conn.execute(
                text(f"SELECT pg_try_advisory_xact_lock({_PG_KEY})"), {"id": run_id}
            ).scalar_one()
        )
    path = _claim_file(conn, run_id)
    if path is None:
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True  # the claim was given up without the run being finished
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False  # a live process holds it
    after_commit.callback(_FileClaim(path, fd).release)
    return True


def mark_interrupted(
    conn: Connection, after_commit: contextlib.ExitStack, now: datetime
) -> list[int]:
    """Mark failed the runs still ``running`` whose process has gone; return their ids.

    Call inside a write transaction; ``after_commit`` is closed by the caller once it has
    committed (or failed), and gives up the claims taken here. A run marked so ends at its
    last committed batch (or its start, with none).
    """
    running = conn.execute(
        select(ingestions.c.id, ingestions.c.channel, ingestions.c.started_at)
        .where(ingestions.c.status == "running")
        .order_by(ingestions.c.id)
    ).all()
    gone = [
        int(run_id)
        for run_id, channel, started in running
        if (
            _abandoned(conn, int(run_id), after_commit)
            if channel == "file"
            else started < now - API_RUN_MAX
        )
    ]
    if not gone:
        return []
    last_batch = (
        select(func.max(ingest_batches.c.committed_at))
        .where(ingest_batches.c.ingestion_id == ingestions.c.id)
        .scalar_subquery()
    )
    # Only those still `running` now: a run may have finished (and given its claim up) between
    # the SELECT above and the claim taken here; RETURNING keeps it out of the answer.
    marked = conn.execute(
        update(ingestions)
        .where(ingestions.c.id.in_(gone), ingestions.c.status == "running")
        .values(
            status="failed",
            finished_at=func.coalesce(last_batch, ingestions.c.started_at),
            error=INTERRUPTED,
        )
        .returning(ingestions.c.id)
    ).scalars()
    return sorted(int(i) for i in marked)

"""Crash safety: `candor ingest` killed with SIGKILL at random points, again and again.

A child process (the real command line, ``python -m candor ingest FILE --source S --db URL --json
--progress-jsonl``) ingests one record file in small committed batches and is killed with SIGKILL
at a random point: while it starts, as soon as its run is in the store, after some batches (a
random fraction of a batch later, so mostly while the next batch is being written), and late in
the file. The same file is then ingested again by a new child, as an operator would after a
crash, and so on; the last child is left to finish.

What a child acknowledged is what it printed on stderr with ``--progress-jsonl`` after each
committed batch. After every kill the store must show:
- every acknowledged batch committed, with the counts acknowledged, and at most the one batch in
  flight committed beyond them;
- every record of every committed batch present exactly once, and nothing else: the records in
  the store are exactly the valid rows up to the last row any committed batch covered, each
  written by the batch whose rows hold it; rejects likewise, and only with their batch;
- no half-written batch: each batch's counts match the records and rejects it wrote, each run's
  counts are the sums of its batches, references resolved, no subject without its records;
- on SQLite, ``PRAGMA integrity_check`` ok and ``PRAGMA foreign_key_check`` empty;
- the run a killed child left ``running`` marked failed as interrupted by the next child (and
  its lock file gone), never a live one.
When the last child finishes, the store holds every valid record of the file exactly once, and
that child counted the records earlier children had added as duplicates.

The SQLite test ingests 1,000,000 valid records and kills 20 times; the PostgreSQL one
(``pg``) 200,000 records and 5 kills. CANDOR_CRASH_SEED changes the kill points (the run prints
where each kill landed: ``pytest -s``). A child after a kill re-reads the file from its start,
so the kills in the middle of the run stay within the first few batches of the file (to keep
the run short); one kill lands after 80–90% of it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
import sqlalchemy as sa

from candor.domain.identifiers import resident_id_check_char, uscc_check_char
from candor.domain.records import RECORD_FIELDS
from candor.formats.csv_records import read_csv
from candor.services.data_keys import DataKeys
from candor.services.ingestion import Ingestion, mark_interrupted
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.services.setup import init_deployment
from candor.services.sources import add_source, get_source
from candor.settings import Settings
from candor.store import Store
from candor.store import ingestions as store_runs
from candor.store.ingestions import INTERRUPTED
from candor.store.tables import identifiers, ingest_batches, ingestions, records, rejects, subjects
from tests.conftest import new_database_url

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CANDOR_CRASH_SEED", "20261123"))
SOURCE = "crash_court"
TYPES = (
    "court.enforcement_order",
    "finance.loan_default",
    "utility.late_fees",
    "utility.unpaid_fees_ruling",
)
# Row i of the file (file row i + 2, after the header) is about subject i * STEP % SUBJECTS.
# SUBJECTS is a multiple of 1,000, so all rows of one subject share i % 1000.
SUBJECTS = 100_000
STEP = 7919  # prime to SUBJECTS
# Every 1,000th row (i % 1000 == 999) is decided in the future: rejected, with a reason.
INVALID_EVERY = 1000
# Rows i % 1000 == 500 from SUBJECTS on refer to row i - SUBJECTS: the same subject and type, an
# earlier batch — a chain of corrections that each batch must resolve in its own transaction.
REFERS_AT = 500
FUTURE = "2099-01-01"
CHILD_TIMEOUT_S = 600
Child = subprocess.Popen[bytes]


# --- the record file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFile:
    path: Path
    valid: int  # valid records in the file
    rows: int  # data rows (valid and invalid)

    def invalid_in(self, first_row: int, last_row: int) -> int:
        """Invalid rows among file rows ``first_row``..``last_row``."""
        return _invalid_through(last_row - 2) - _invalid_through(first_row - 3)

    def valid_in(self, first_row: int, last_row: int) -> int:
        if last_row < first_row:
            return 0
        return last_row - first_row + 1 - self.invalid_in(first_row, last_row)

    def invalid_rows(self, first_row: int, last_row: int) -> set[int]:
        first = max(first_row - 2, 0)
        start = first + (INVALID_EVERY - 1 - first % INVALID_EVERY) % INVALID_EVERY
        return {i + 2 for i in range(start, last_row - 1, INVALID_EVERY)}

    def subjects_in(self, last_row: int) -> int:
        """Subjects named by the valid rows up to ``last_row``."""
        return self.valid_in(2, min(last_row, SUBJECTS + 1))


def _invalid_through(i: int) -> int:
    """Invalid rows among rows 0..i (i >= -1)."""
    return (i + 1) // INVALID_EVERY


def srid(i: int) -> str:
    return f"r{i:07d}"


def row_of(source_record_id: str) -> int:
    return int(source_record_id[1:]) + 2


def _subject_identifiers() -> tuple[list[str], list[str]]:
    """SUBJECTS valid identifiers: four persons in five, the rest organisations."""
    schemes, values = [], []
    born0 = date(1950, 1, 1)
    for k in range(SUBJECTS):
        if k % 5 == 4:
            body = f"91350100MA{k:07d}"
            schemes.append("cn_uscc")
            values.append(body + uscc_check_char(body))
        else:
            born = (born0 + timedelta(days=k // 1000)).strftime("%Y%m%d")
            body = f"110105{born}{k % 1000:03d}"
            schemes.append("cn_resident_id")
            values.append(body + resident_id_check_char(body))
    return schemes, values


def write_record_file(path: Path, valid: int) -> RecordFile:
    """A CSV with ``valid`` valid records and one invalid row in every thousand, in seconds."""
    rows = valid + valid // (INVALID_EVERY - 1)
    while rows - _invalid_through(rows - 1) > valid:
        rows -= 1
    assert rows - _invalid_through(rows - 1) == valid
    schemes, values = _subject_identifiers()
    i = pl.int_range(0, rows, dtype=pl.Int64, eager=True).alias("i")
    subject = (i * STEP) % SUBJECTS
    kind = pl.Series(TYPES).gather(i % len(TYPES))
    ids = pl.col("i").cast(pl.String).str.zfill(7)
    frame = pl.DataFrame(
        {
            "i": i,
            "identifier_scheme": pl.Series(schemes).gather(subject),
            "identifier": pl.Series(values).gather(subject),
            "record_type": kind,
        }
    ).with_columns(
        source_record_id=pl.concat_str(pl.lit("r"), ids),
        name=pl.lit("张三"),
        occurred_on=pl.lit("2025-01-10"),
        decided_on=pl.when(pl.col("i") % INVALID_EVERY == INVALID_EVERY - 1)
        .then(pl.lit(FUTURE))
        .otherwise(pl.lit("2025-02-01")),
        legal_basis=pl.lit("Civil Procedure Law Art. 247"),
        status=pl.lit("final"),
        refers_to=pl.when((pl.col("i") % INVALID_EVERY == REFERS_AT) & (pl.col("i") >= SUBJECTS))
        .then(pl.concat_str(pl.lit("r"), (pl.col("i") - SUBJECTS).cast(pl.String).str.zfill(7)))
        .otherwise(pl.lit("")),
        **{
            "attr.case_no": pl.when(pl.col("record_type") == TYPES[0])
            .then(pl.concat_str(pl.lit("(2025)京0105执"), ids, pl.lit("号")))
            .otherwise(pl.lit("")),
            "attr.amount": pl.concat_str((pl.col("i") % 100_000).cast(pl.String), pl.lit(".50")),
        },
    )
    frame.select(*RECORD_FIELDS, "attr.case_no", "attr.amount").write_csv(path)
    return RecordFile(path, valid, rows)


def _timed_record_file(factory: pytest.TempPathFactory, valid: int) -> RecordFile:
    started = time.perf_counter()
    made = write_record_file(factory.mktemp("crash-records") / f"records-{valid}.csv", valid)
    print(f"\nwrote {made.rows:,} rows ({valid:,} valid) in {time.perf_counter() - started:.1f} s")
    return made


@pytest.fixture(scope="module")
def million_records(tmp_path_factory: pytest.TempPathFactory) -> RecordFile:
    return _timed_record_file(tmp_path_factory, 1_000_000)


@pytest.fixture(scope="module")
def pg_records(tmp_path_factory: pytest.TempPathFactory) -> RecordFile:
    return _timed_record_file(tmp_path_factory, 200_000)


# --- the children ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """When to kill a child: ``delay`` seconds after it starts; or as soon as its run is in the
    store; or after its first acknowledgement of ``after_rows`` rows read, ``delay`` batch
    times later (a batch time measured from its own acknowledgements)."""

    label: str
    delay: float = 0.0
    at_run_start: bool = False
    after_rows: int | None = None


@dataclass
class Outcome:
    kill: Kill | None
    returncode: int
    acks: list[dict[str, Any]]
    ingestion_id: int | None  # the run this child started, if it got so far
    seconds: float
    stdout: str
    stderr: str
    rejects_file: Path


def plan(rng: random.Random, kills: int, valid: int, batch_rows: int, middle: int) -> list[Kill]:
    """``kills`` kill points: two while starting, the middle ones after 1..``middle`` batches
    (or in the duplicates of an earlier run's batches), the last after 80–90% of the file."""
    points = [
        Kill("while starting", delay=rng.uniform(0.05, 1.5)),
        Kill("once its run is in the store", at_run_start=True, delay=rng.uniform(0.0, 0.2)),
    ]
    for _ in range(kills - 3):
        points.append(
            Kill(
                "after batches",
                after_rows=rng.randint(1, middle) * batch_rows,
                delay=rng.random(),
            )
        )
    points.append(
        # Far enough from the end that a batch or two follow: the kill lands inside one.
        Kill("late in the file", after_rows=int(valid * rng.uniform(0.8, 0.9)), delay=rng.random())
    )
    return points


class Harness:
    """One store, one record file and the children ingesting it."""

    def __init__(self, url: str, data: RecordFile, work: Path, batch_rows: int) -> None:
        self.url = url
        self.data = data
        self.work = work
        self.batch_rows = batch_rows
        secret = work / "candor.secret"
        settings = Settings.load(environ={}, database_url=url, secret_file=secret)
        init_deployment(settings)
        self.store = Store(url)
        add_source(self.store, load_registry(settings), SOURCE, TYPES)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CANDOR_")},
            "CANDOR_SECRET_FILE": str(secret),
            "CANDOR_INGEST_BATCH_ROWS": str(batch_rows),
        }
        self.children = 0

    def close(self) -> None:
        self.store.close()

    def last_run(self) -> int:
        with self.store.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(ingestions.c.id), 0))
                ).scalar_one()
            )

    def run_child(
        self, kill: Kill | None, while_running: Callable[[Child, Path], None] | None = None
    ) -> Outcome:
        """Start a child ingesting the file; kill it as ``kill`` says, or let it finish (calling
        ``while_running`` with it and its stderr's path first)."""
        self.children += 1
        n = self.children
        out_path, err_path = self.work / f"child-{n}.out", self.work / f"child-{n}.err"
        rejects_file = self.work / f"child-{n}.rejects.csv"
        before = self.last_run()
        command = [
            sys.executable,
            "-m",
            "candor",
            "ingest",
            str(self.data.path),
            "--source",
            SOURCE,
            "--rejects",
            str(rejects_file),
            "--db",
            self.url,
            "--json",
            "--progress-jsonl",
        ]
        started = time.monotonic()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            child = subprocess.Popen(command, stdout=out, stderr=err, env=self.env)
        try:
            if while_running is not None:
                while_running(child, err_path)
            if kill is not None:
                self._wait_for(kill, child, err_path, before, started)
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
            child.wait(timeout=CHILD_TIMEOUT_S)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        seconds = time.monotonic() - started
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        after = self.last_run()
        return Outcome(
            kill,
            child.returncode,
            _acks(stderr),
            after if after > before else None,
            seconds,
            out_path.read_text(encoding="utf-8"),
            stderr,
            rejects_file,
        )

    def _wait_for(self, kill: Kill, child: Child, err_path: Path, before: int, t0: float) -> None:
        deadline = t0 + CHILD_TIMEOUT_S
        if kill.after_rows is None and not kill.at_run_start:
            time.sleep(max(0.0, t0 + kill.delay - time.monotonic()))
            return
        seen: list[float] = []  # when each acknowledgement was seen
        while child.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"the child did not reach the kill point {kill} in time")
            if kill.at_run_start:
                if self.last_run() > before:
                    time.sleep(kill.delay)
                    return
                time.sleep(0.01)
                continue
            acks = _acks(err_path.read_text(encoding="utf-8", errors="replace"))
            seen += [time.monotonic()] * (len(acks) - len(seen))
            if acks and acks[-1]["rows_read"] >= (kill.after_rows or 0):
                batch_time = seen[-1] - seen[-2] if len(seen) > 1 else 1.0
                time.sleep(kill.delay * batch_time)
                return
            time.sleep(0.005)


def _acks(stderr: str) -> list[dict[str, Any]]:
    """The child's acknowledgements: complete ``--progress-jsonl`` lines, in order."""
    found = []
    for line in stderr.split("\n")[:-1]:  # a line without its newline is not written yet
        if line.startswith("{"):
            found.append(orjson.loads(line))
    return found


def _complete_csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])))


# --- the checks --------------------------------------------------------------------------------


@dataclass
class State:
    records: int
    covered: int  # the last file row of any committed batch (1: none)
    runs: list[Any]
    batches: dict[int, list[Any]] = field(default_factory=dict)  # by run, in seq order
    rejects: dict[int, set[int]] = field(default_factory=dict)  # rows, by batch id


def check_store(h: Harness) -> State:
    """Everything that must hold of the store after any crash; the state found."""
    data, store = h.data, h.store
    with store.read() as conn:
        runs = conn.execute(sa.select(ingestions).order_by(ingestions.c.id)).all()
        all_batches = conn.execute(
            sa.select(ingest_batches).order_by(ingest_batches.c.ingestion_id, ingest_batches.c.seq)
        ).all()
        written = {
            b: (n, lo, hi)
            for b, n, lo, hi in conn.execute(
                sa.select(
                    records.c.batch_id,
                    sa.func.count(),
                    sa.func.min(records.c.source_record_id),
                    sa.func.max(records.c.source_record_id),
                ).group_by(records.c.batch_id)
            )
        }
        present = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
        repeated = conn.execute(
            sa.select(records.c.source_record_id)
            .group_by(records.c.source_id, records.c.source_record_id)
            .having(sa.func.count() > 1)
            .limit(5)
        ).all()
        bad_ids = [srid(r - 2) for r in data.invalid_rows(2, data.rows + 1)]
        invalid_present = conn.execute(
            sa.select(sa.func.count()).where(records.c.source_record_id.in_(bad_ids))
        ).scalar_one()
        reject_rows = conn.execute(
            sa.select(rejects.c.batch_id, rejects.c.row, rejects.c.field)
        ).all()
        orphans = {
            "records without their batch": conn.execute(
                sa.select(sa.func.count())
                .select_from(records.outerjoin(ingest_batches))
                .where(ingest_batches.c.id.is_(None))
            ).scalar_one(),
            "rejects without their batch": conn.execute(
                sa.select(sa.func.count())
                .select_from(rejects.outerjoin(ingest_batches))
                .where(ingest_batches.c.id.is_(None))
            ).scalar_one(),
            "subjects without records": conn.execute(
                sa.select(sa.func.count())
                .select_from(subjects)
                .where(~sa.exists().where(records.c.subject_id == subjects.c.id))
            ).scalar_one(),
            "records whose identifier names another subject": conn.execute(
                sa.select(sa.func.count())
                .select_from(records.join(identifiers))
                .where(identifiers.c.subject_id != records.c.subject_id)
            ).scalar_one(),
        }
        subject_count = conn.execute(sa.select(sa.func.count()).select_from(subjects)).scalar_one()
        identifier_count = conn.execute(
            sa.select(sa.func.count()).select_from(identifiers)
        ).scalar_one()
        target, original = records.alias("target"), records.alias("original")
        references = conn.execute(
            sa.select(
                records.c.source_record_id,
                records.c.refers_to,
                target.c.source_record_id,
                original.c.source_record_id,
            )
            .select_from(
                records.outerjoin(target, target.c.id == records.c.refers_to_id).outerjoin(
                    original, original.c.id == records.c.original_id
                )
            )
            .where(records.c.refers_to.is_not(None))
        ).all()
        if store.dialect == "sqlite":
            integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
            foreign = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
            assert integrity == ["ok"], integrity[:10]
            assert foreign == [], foreign[:10]

    assert orphans == dict.fromkeys(orphans, 0)
    assert repeated == [], f"records stored twice: {repeated}"
    assert invalid_present == 0, "an invalid row was stored"

    # Each run's committed batches: seq 0, 1, … over consecutive rows from the file's first.
    batches: dict[int, list[Any]] = defaultdict(list)
    for b in all_batches:
        batches[b.ingestion_id].append(b)
    by_batch: dict[int, set[int]] = defaultdict(set)
    for batch_id, row, fld in reject_rows:
        assert fld == "decided_on"
        assert row not in by_batch[batch_id], f"row {row} rejected twice in batch {batch_id}"
        by_batch[batch_id].add(row)
    covered = 1
    accepted_total = 0
    for run in runs:
        mine = batches.get(run.id, [])
        assert [b.seq for b in mine] == list(range(len(mine))), f"run {run.id}: seq gap"
        next_row = 2
        for b in mine:
            assert b.first_row == next_row, f"run {run.id} batch {b.seq}: rows not consecutive"
            next_row = b.last_row + 1
            size = b.last_row - b.first_row + 1
            assert b.accepted + b.rejected + b.duplicates == size
            assert b.rejected == data.invalid_in(b.first_row, b.last_row)
            assert by_batch.get(b.id, set()) == data.invalid_rows(b.first_row, b.last_row)
            n, lo, hi = written.get(b.id, (0, None, None))
            assert n == b.accepted, f"batch {b.id}: {n} records written, {b.accepted} counted"
            if n:
                assert b.first_row <= row_of(lo) <= row_of(hi) <= b.last_row
            accepted_total += b.accepted
            covered = max(covered, b.last_row)
        sums = (
            sum(b.accepted for b in mine),
            sum(b.rejected for b in mine),
            sum(b.duplicates for b in mine),
            sum(b.last_row - b.first_row + 1 for b in mine),
        )
        assert (run.accepted, run.rejected, run.duplicates, run.rows_read) == sums, run
    assert set(by_batch) <= {b.id for b in all_batches}
    # The records are exactly the valid rows up to the last row committed, each once.
    assert present == accepted_total == data.valid_in(2, covered)
    assert subject_count == identifier_count == data.subjects_in(covered)
    for source_record_id, refers_to, named, first in references:
        i = row_of(source_record_id) - 2
        assert refers_to == srid(i - SUBJECTS) == named, source_record_id
        assert first == srid(i % SUBJECTS), source_record_id
    assert len(references) == sum(
        1 for i in range(SUBJECTS + REFERS_AT, covered - 1, INVALID_EVERY)
    )

    # Runs: one left `running` only by a child killed after its last successor started.
    for earlier in runs[:-1]:
        assert earlier.status in ("failed", "completed"), f"run {earlier.id} left running"
        if earlier.status == "failed":
            assert earlier.error == INTERRUPTED
            ends = [b.committed_at for b in batches.get(earlier.id, [])]
            assert earlier.finished_at == max(ends, default=earlier.started_at)
        else:
            assert earlier.rows_read == data.rows
    if store.dialect == "sqlite":
        database = Path(sa.make_url(h.url).database or "")
        claims = database.with_name(database.name + ".running")
        held = sorted(int(p.stem) for p in claims.glob("*.lock")) if claims.exists() else []
        still = [r.id for r in runs if r.status == "running"]
        assert held == still, "lock files of finished runs left behind"
    return State(present, covered, list(runs), dict(batches), dict(by_batch))


def check_child(h: Harness, child: Outcome, state: State) -> None:
    """What the child acknowledged is in the store; at most one batch more is."""
    if child.ingestion_id is None:
        assert child.acks == []
        return
    run = next(r for r in state.runs if r.id == child.ingestion_id)
    mine = state.batches.get(run.id, [])
    assert all(a["ingestion"] == run.id for a in child.acks)
    assert [a["batches"] for a in child.acks] == list(range(1, len(child.acks) + 1))
    assert len(child.acks) <= len(mine) <= len(child.acks) + 1, (
        f"{len(mine)} batches committed, {len(child.acks)} acknowledged"
    )
    for ack in child.acks:
        upto = mine[: ack["batches"]]
        assert ack["last_row"] == upto[-1].last_row
        assert ack["rows_read"] == upto[-1].last_row - 1
        assert ack["accepted"] == sum(b.accepted for b in upto)
        assert ack["rejected"] == sum(b.rejected for b in upto)
        assert ack["duplicates"] == sum(b.duplicates for b in upto)
    if child.returncode == 0:
        assert run.status == "completed"
    else:
        assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
        # `completed` only when the kill came after the run's last write, as it was exiting.
        assert run.status == "running" or (
            run.status == "completed" and run.rows_read == h.data.rows
        )
    # The rejects file holds the rejects of committed batches only, those acknowledged at least.
    in_file = {int(r["row"]) for r in _complete_csv_rows(child.rejects_file)}
    committed = set().union(*(state.rejects.get(b.id, set()) for b in mine))
    acknowledged = set().union(*(state.rejects.get(b.id, set()) for b in mine[: len(child.acks)]))
    assert acknowledged <= in_file <= committed


# --- the tests ---------------------------------------------------------------------------------


def crash_and_restart(
    url: str, data: RecordFile, work: Path, *, kills: int, batch_rows: int, middle: int
) -> None:
    rng = random.Random(SEED)
    h = Harness(url, data, work, batch_rows)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    try:
        state = check_store(h)
        for n, kill in enumerate([*plan(rng, kills, data.valid, batch_rows, middle), None]):
            before = state.records
            child = h.run_child(kill)
            checking = time.monotonic()
            state = check_store(h)
            check_child(h, child, state)
            outcomes.append(child)
            acked = child.acks[-1]["rows_read"] if child.acks else 0
            print(
                f"child {n + 1:2d} ({kill.label if kill else 'to the end'}): "
                + ("finished" if child.returncode == 0 else f"killed, {acked:,} rows acknowledged")
                + ("" if child.ingestion_id else " before its run started")
                + f"; {state.records:,} records through row {state.covered:,}; "
                f"{child.seconds:.1f} s, checks {time.monotonic() - checking:.1f} s"
            )
        # The last child finished: every valid record once, those of earlier runs duplicates.
        assert child.returncode == 0, child.stderr[-2000:]
        assert orjson.loads(child.stdout) == {
            "accepted": data.valid - before,
            "rejected": data.rows - data.valid,
            "duplicates": before,
            "rejects": str(child.rejects_file),
        }
        assert state.records == data.valid
        assert state.covered == data.rows + 1
        assert state.runs[-1].status == "completed"
    finally:
        h.close()
    print(
        f"{kills} kills of a child ingesting {data.valid:,} records and the last child: "
        f"{time.monotonic() - started:.0f} s"
    )
    # The kills landed where they were meant to: before any batch was acknowledged, between
    # batches, and late in the file.
    killed = [c for c in outcomes[:-1] if c.returncode == -signal.SIGKILL]
    assert len(killed) >= kills - 1
    assert any(not c.acks for c in killed)
    assert any(c.acks for c in killed)
    late = outcomes[-2]
    assert late.returncode == -signal.SIGKILL
    assert late.acks[-1]["rows_read"] >= 0.8 * data.valid


def test_sqlite_ingestion_survives_sigkill_20_times(
    million_records: RecordFile, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database_url("sqlite", tmp_path, request)
    crash_and_restart(url, million_records, tmp_path, kills=20, batch_rows=20_000, middle=4)


@pytest.mark.pg
def test_postgresql_ingestion_survives_sigkill(
    pg_records: RecordFile, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database_url("postgresql", tmp_path, request)
    crash_and_restart(url, pg_records, tmp_path, kills=5, batch_rows=20_000, middle=2)


def test_the_record_file_is_what_the_checks_assume(tmp_path: Path) -> None:
    data = write_record_file(tmp_path / "small.csv", 2_500)
    frame = pl.read_csv(data.path, infer_schema=False)
    assert frame.height == data.rows == 2_502
    invalid = frame.filter(pl.col("decided_on") == FUTURE).get_column("source_record_id")
    assert {row_of(s) for s in invalid} == data.invalid_rows(2, data.rows + 1) == {1001, 2001}
    assert data.valid_in(2, data.rows + 1) == 2_500
    assert data.invalid_in(1001, 1001) == 1 and data.invalid_in(1002, 2000) == 0
    assert data.subjects_in(2_001) == 1_998  # rows 1001 and 2001 are invalid
    assert frame.get_column("identifier").n_unique() == data.rows


def test_a_live_run_is_never_taken_for_interrupted(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = write_record_file(tmp_path / "records.csv", 30_000)
    h = Harness(database_url, data, tmp_path, 5_000)
    try:
        found: list[list[int]] = []

        def sweep_once_a_batch_is_in(child: Child, err_path: Path) -> None:
            while child.poll() is None and not _acks(err_path.read_text(encoding="utf-8")):
                time.sleep(0.005)
            assert child.poll() is None, "the child ended before the sweep"
            found.append(mark_interrupted(h.store))

        child = h.run_child(None, sweep_once_a_batch_is_in)
        state = check_store(h)
        check_child(h, child, state)
    finally:
        h.close()
    assert child.returncode == 0, child.stderr[-2000:]
    assert found == [[]]
    assert [r.status for r in state.runs] == ["completed"]


def test_a_run_is_interrupted_when_its_claim_is_gone_or_an_api_run_is_old(
    database_url: str, tmp_path: Path
) -> None:
    data = write_record_file(tmp_path / "records.csv", 3_000)
    h = Harness(database_url, data, tmp_path, 1_000)
    settings = Settings.load(
        environ={}, database_url=database_url, secret_file=tmp_path / "candor.secret"
    )
    registry = load_registry(settings)
    secret = load_secret(settings)
    hasher, data_keys = secret.identifier_hasher(), DataKeys(secret)
    source = get_source(h.store, SOURCE)
    try:
        live = Ingestion(
            h.store,
            registry,
            hasher,
            source,
            data_keys=data_keys,
            channel="file",
            file_name="a.csv",
            today=date.today(),
        )
        gone = Ingestion(
            h.store,
            registry,
            hasher,
            source,
            data_keys=data_keys,
            channel="file",
            file_name="b.csv",
            today=date.today(),
        )
        api = Ingestion(
            h.store,
            registry,
            hasher,
            source,
            data_keys=data_keys,
            channel="api",
            file_name=None,
            today=date.today(),
        )
        reader = read_csv(data.path, attribute_names=registry.attribute_names, batch_rows=1_000)
        batch = next(reader)
        reader.close()
        gone.commit(gone.prepare(batch))
        gone._claim.release()  # as its process's end would

        assert mark_interrupted(h.store) == [gone.id]
        with contextlib.ExitStack() as after, h.store.write() as conn:
            later = datetime.now(UTC) + timedelta(hours=2)
            assert store_runs.mark_interrupted(conn, after, later) == [api.id]
        with h.store.read() as conn:
            runs = {r.id: r for r in conn.execute(sa.select(ingestions))}
            last_batch = conn.execute(
                sa.select(ingest_batches.c.committed_at).where(
                    ingest_batches.c.ingestion_id == gone.id
                )
            ).scalar_one()
        assert runs[live.id].status == "running"
        assert (runs[gone.id].status, runs[gone.id].error) == ("failed", INTERRUPTED)
        assert runs[gone.id].finished_at == last_batch
        assert runs[gone.id].accepted == 999  # its batch stays, counted
        assert (runs[api.id].status, runs[api.id].finished_at) == (
            "failed",
            runs[api.id].started_at,
        )
        live.finish()
        with h.store.read() as conn:
            assert (
                conn.execute(
                    sa.select(ingestions.c.status).where(ingestions.c.id == live.id)
                ).scalar_one()
                == "completed"
            )
        assert mark_interrupted(h.store) == []
    finally:
        h.close()

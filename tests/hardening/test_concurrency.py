"""Concurrency on SQLite and PostgreSQL: several ingesters, a batch rater and checkers at once.

Each role runs in an OS process of its own (``multiprocessing``, spawn), as a deployment runs
``candor ingest``, ``candor rate`` and API workers side by side, and calls candor's services
directly:
- three ingesters submit record files of their own, each in several committed batches: two on
  one source with distinct ``source_record_id``s, one on another source; their subjects overlap;
  two of them send one file of the same records at the same moment, and each re-sends some
  records it sent before (those must count as duplicates);
- one batch rater runs ``rate_all`` over and over while the records arrive;
- two checker processes of two threads each call ``check`` (which logs every check) the whole
  time, about a listed person, a known clean one, an unknown one and the "hot" persons and
  organisations whose records keep arriving (so that their checks re-rate them in the store,
  concurrently).

Afterwards: every record sent is stored exactly once, each ingester's accepted + duplicates is
what it sent, no process hung (a deadlock fails the test at the deadline instead of hanging it),
no check failed ("database is locked" included), every checker answered throughout the ingestion
with no long gap, every answer was right when it was given and is logged, and a final rating
rates every subject and lists those with a finding.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from candor.domain.registry import Registry
from candor.services.checks import check
from candor.services.ingestion import ingest_file
from candor.services.rating import rate_all, rerate_subject, subject_id_for
from candor.services.registry import load_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store, open_store
from candor.store.tables import (
    checks,
    identifiers,
    ingestions,
    listings,
    ratings,
    records,
    rulebooks,
    sources,
    subjects,
)
from tests.helpers import record, resident_id, uscc, write_csv, write_jsonl

TODAY = date(2026, 11, 23)
MEASURE = "no_air_travel"
BATCH_ROWS = 25  # rows per committed batch: several batches per file
ROWS_PER_FILE = 150
OWN_FILES = 4  # each ingester's files of new records
SHARED_ROWS = 60  # one file that two ingesters send at the same moment
RESENT_ROWS = 20  # rows of each of an ingester's first two files that it sends again
PAUSE_BETWEEN_FILES = 0.25  # seconds: files arrive over a while, as they do from sources
CHECKER_PROCESSES = 2
CHECKER_THREADS = 2
MIN_ANSWERS_DURING_INGESTION = 10  # per checker thread
# The longest a checker thread may go without an answer while records arrive. Measured on a
# 2-CPU machine that other test runs shared: up to 6 s on SQLite, 3.5 s on PostgreSQL. On SQLite
# nearly all of it is waiting for the one write lock (``check`` commits its log row), which three
# ingesters, the batch run and the other checkers take in turns, and which SQLite's busy handler
# polls for every 100 ms rather than queueing for it. Longer is a stall, not contention.
MAX_GAP_SECONDS = 10.0
DEADLINE_SECONDS = 180.0  # past this a process is taken as deadlocked (or hung) and killed

PERSON, ORG = "cn_resident_id", "cn_uscc"
# A subject as (identifier scheme, identifier); as a check names it: "SCHEME:IDENTIFIER".
Subject = tuple[str, str]

LISTED = (PERSON, resident_id(1))  # a final finding before the run: listed throughout
CLEAN = (PERSON, resident_id(2))  # an enforcement order before the run: known, never listed
UNKNOWN = (PERSON, resident_id(3))  # never sent
# Subjects every ingester sends records about: persons, and every fifth an organisation.
SHARED_POOL = [
    (ORG, uscc(i)) if i % 5 == 0 else (PERSON, resident_id(i, born="19850505")) for i in range(60)
]
# Findings arrive for these during the run (two organisations, two persons); the checkers ask
# about them all along.
HOT = [SHARED_POOL[i] for i in (0, 1, 5, 2)]
FINDING = {"attr.ground": "2"}  # ground 2: listed for two years from its decision


def _own_pool(ingester: int) -> list[Subject]:
    return [(PERSON, resident_id(i, born=f"1990010{ingester + 1}")) for i in range(60)]


def _reference(subject: Subject) -> str:
    return ":".join(subject)


def _subject_row(srid: str, subject: Subject, **fields: Any) -> dict[str, Any]:
    """A court.enforcement_order row (``fields`` override) about ``subject``."""
    scheme, identifier = subject
    name = {"name": "某某科技有限公司"} if scheme == ORG else {}
    return record(srid, identifier, identifier_scheme=scheme, **name, **fields)


# --- the records each ingester sends -------------------------------------------------------------


def _finding(srid: str, subject: Subject) -> dict[str, Any]:
    row = _subject_row(
        srid,
        subject,
        record_type="court.dishonest_debtor_finding",
        occurred_on="2026-05-04",
        decided_on="2026-06-01",  # in force on TODAY: listed until 2028-06-01
        **FINDING,
    )
    del row["attr.amount"]  # not an attribute of a finding
    return row


def _own_rows(ingester: int, prefix: str, number: int) -> list[dict[str, Any]]:
    """File ``number`` of an ingester's new records: half about subjects every ingester sends
    records about, half about its own; one in twenty a finding, every other one of those about a
    hot subject."""
    own = _own_pool(ingester)
    rows = []
    for r in range(ROWS_PER_FILE):
        srid = f"{prefix}-{number}-{r}"
        if r % 40 == 0:
            rows.append(_finding(srid, HOT[(number + ingester) % len(HOT)]))
        elif r % 20 == 0:
            rows.append(_finding(srid, SHARED_POOL[(r * 7 + number * 13 + ingester) % 60]))
        elif r % 2 == 0:
            rows.append(_subject_row(srid, SHARED_POOL[(r * 7 + number * 13 + ingester) % 60]))
        else:
            rows.append(_subject_row(srid, own[(r + number * 5) % len(own)]))
    return rows


def _shared_rows() -> list[dict[str, Any]]:
    return [_subject_row(f"shared-{r}", SHARED_POOL[(r * 11) % 60]) for r in range(SHARED_ROWS)]


@dataclass(frozen=True)
class Sent:
    """One file as an ingester sends it, and what it must count."""

    path: str
    source: str
    rows: list[dict[str, Any]]
    kind: str  # "new": all accepted; "resent": sent before by the same ingester, all
    # duplicates; "shared": sent by two ingesters at once, accepted by one of them


@dataclass(frozen=True)
class IngesterPlan:
    name: str
    files: list[Sent]


def _plans(tmp: Path) -> list[IngesterPlan]:
    """Ingesters 0 and 2 send to source ``court-a`` (distinct ids, and the shared file both),
    ingester 1 to ``court-b``; ingester 1 sends JSON Lines, the others CSV."""
    shared = _shared_rows()
    plans = []
    for k, (source, prefix) in enumerate([("court-a", "a0"), ("court-b", "b1"), ("court-a", "a2")]):
        fmt = "jsonl" if k == 1 else "csv"
        write = write_jsonl if fmt == "jsonl" else write_csv
        own = [_own_rows(k, prefix, n) for n in range(OWN_FILES)]
        files: list[tuple[str, list[dict[str, Any]], str]] = [(f"{prefix}-0", own[0], "new")]
        if source == "court-a":
            files.append((f"{prefix}-shared", shared, "shared"))
        files += [(f"{prefix}-{n}", own[n], "new") for n in range(1, OWN_FILES)]
        resent = own[0][:RESENT_ROWS] + own[1][:RESENT_ROWS]
        files.append((f"{prefix}-resent", resent, "resent"))
        sent = [
            Sent(str(write(tmp / f"{name}.{fmt}", rows)), source, rows, kind)
            for name, rows, kind in files
        ]
        plans.append(IngesterPlan(f"ingester-{k}", sent))
    return plans


# --- the worker processes ------------------------------------------------------------------------


def _worker_settings(url: str, secret_file: str) -> Settings:
    return Settings.load(
        environ={},
        database_url=url,
        secret_file=Path(secret_file),
        ingest_batch_rows=BATCH_ROWS,
    )


def _write_result(out: str, result: dict[str, Any]) -> None:
    Path(out).write_text(json.dumps(result), encoding="utf-8")


def _failure(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}\n{''.join(traceback.format_exception(e))[-3000:]}"


def run_ingester(
    url: str, secret_file: str, files: list[tuple[str, str]], go: Any, out: str
) -> None:
    """Ingest ``files`` ((path, source)) one after the other, once ``go`` is set."""
    result: dict[str, Any] = {"files": [], "errors": []}
    try:
        settings = _worker_settings(url, secret_file)
        registry = load_registry(settings)
        with open_store(url) as store:
            if not go.wait(DEADLINE_SECONDS):
                raise TimeoutError("never told to start")
            result["started"] = time.monotonic()
            for n, (path, source) in enumerate(files):
                if n:
                    time.sleep(PAUSE_BETWEEN_FILES)
                done = ingest_file(store, settings, registry, Path(path), source, today=TODAY)
                result["files"].append(
                    {
                        "path": path,
                        "rows_read": done.rows_read,
                        "accepted": done.accepted,
                        "rejected": done.rejected,
                        "duplicates": done.duplicates,
                    }
                )
            result["finished"] = time.monotonic()
    except BaseException as e:
        result["errors"].append(_failure(e))
    _write_result(out, result)


def run_rater(url: str, secret_file: str, go: Any, stop: Any, out: str) -> None:
    """Rate every subject in a batch, again and again until ``stop`` is set."""
    result: dict[str, Any] = {"runs": [], "errors": []}
    try:
        settings = _worker_settings(url, secret_file)
        registry = load_registry(settings)
        with open_store(url) as store:
            if not go.wait(DEADLINE_SECONDS):
                raise TimeoutError("never told to start")
            while True:
                started = time.monotonic()
                try:
                    summary = rate_all(store, registry, as_of=TODAY, today=TODAY)
                    result["runs"].append([started, time.monotonic(), summary.subjects])
                except Exception as e:
                    result["errors"].append(_failure(e))
                    time.sleep(0.1)
                if stop.is_set():
                    break
    except BaseException as e:
        result["errors"].append(_failure(e))
    _write_result(out, result)


def run_checker(
    url: str,
    secret_file: str,
    name: str,
    references: list[str],
    ready: Any,
    stop: Any,
    out: str,
) -> None:
    """Check ``references`` round and round on ``CHECKER_THREADS`` threads until ``stop`` is
    set; ``ready`` is set once every thread has had an answer."""
    threads: list[dict[str, Any]] = [
        {"client": f"{name}-{i}", "answers": [], "errors": []} for i in range(CHECKER_THREADS)
    ]
    result: dict[str, Any] = {"threads": threads, "errors": []}
    try:
        settings = _worker_settings(url, secret_file)
        registry = load_registry(settings)
        hasher = load_secret(settings).identifier_hasher()
        with open_store(url) as store:
            answered = threading.Barrier(CHECKER_THREADS + 1)

            def loop(mine: dict[str, Any], offset: int) -> None:
                n = offset
                while not stop.is_set():
                    which = n % len(references)
                    n += 1
                    asked = time.monotonic()
                    try:
                        answer = check(
                            store,
                            registry,
                            hasher,
                            references[which],
                            MEASURE,
                            as_of=TODAY,
                            today=TODAY,
                            client=mine["client"],
                            purpose="boarding",
                        )
                    except Exception as e:
                        if len(mine["errors"]) < 20:
                            mine["errors"].append(_failure(e))
                        time.sleep(0.01)
                        continue
                    now = time.monotonic()
                    mine["answers"].append([now, which, answer.applies, now - asked])
                    if len(mine["answers"]) == 1:
                        answered.wait(DEADLINE_SECONDS)

            workers = [
                threading.Thread(target=loop, args=(mine, i), name=mine["client"])
                for i, mine in enumerate(threads)
            ]
            for worker in workers:
                worker.start()
            answered.wait(DEADLINE_SECONDS)
            ready.set()
            for worker in workers:
                worker.join()
    except BaseException as e:
        result["errors"].append(_failure(e))
    _write_result(out, result)


# --- the test ------------------------------------------------------------------------------------


@dataclass
class _Setup:
    store: Store
    settings: Settings
    registry: Registry


def _deploy(store: Store, settings: Settings, registry: Registry) -> None:
    """The sample rulebooks in force, three court sources, and one listed and one clean person
    rated before the run."""
    for name in ("court-dishonest-debtors", "rongcheng-personal"):
        activate(
            store,
            registry,
            SAMPLE_RULEBOOKS / f"{name}.yaml",
            effective=date(2017, 5, 1),
            today=TODAY,
        )
    court = [t for t in registry.record_types if t.startswith("court.")]
    for source in ("court-a", "court-b", "court-setup"):
        add_source(store, registry, source, court)
    before = settings.secret_file.parent / "before.csv"
    finding = _finding("before-1", LISTED)
    finding["decided_on"] = "2025-03-01"  # listed until 2027-03-01
    finding["occurred_on"] = "2025-01-10"
    write_csv(before, [finding, _subject_row("before-2", CLEAN)])
    done = ingest_file(store, settings, registry, before, "court-setup", today=TODAY)
    assert (done.accepted, done.rejected) == (2, 0)
    rate_all(store, registry, as_of=TODAY, today=TODAY)


def _check_now(setup: _Setup, subject: Subject) -> bool:
    hasher = load_secret(setup.settings).identifier_hasher()
    answer = check(
        setup.store,
        setup.registry,
        hasher,
        _reference(subject),
        MEASURE,
        as_of=TODAY,
        today=TODAY,
        client="final",
        purpose="boarding",
    )
    return answer.applies


def test_a_batch_run_leaves_a_subject_re_rated_from_newer_records_as_it_is(
    store: Store, settings: Settings, registry: Registry
) -> None:
    """The interleaving the concurrent test found, made deterministic: between the batch run's
    reading of the records and its storing, a finding arrives and a check re-rates its subject
    in the store. The run, which never saw the finding, must not withdraw the listing."""
    setup = _Setup(store, settings, registry)
    _deploy(store, settings, registry)
    late = HOT[:2]  # an organisation and a person
    findings = write_csv(
        settings.secret_file.parent / "late.csv",
        [_finding(f"late-{n}", subject) for n, subject in enumerate(late)],
    )
    seen: list[bool] = []

    def meanwhile(stage: str) -> None:
        if stage == "storing":  # the run has read and rated; it writes next
            done = ingest_file(store, settings, registry, findings, "court-a", today=TODAY)
            assert done.accepted == len(late)
            # Stale: each is re-rated in the store before the answer.
            seen.extend(_check_now(setup, subject) for subject in late)

    rate_all(store, registry, as_of=TODAY, today=TODAY, on_progress=meanwhile)
    assert seen == [True] * len(late)
    assert [_check_now(setup, subject) for subject in late] == [True] * len(late)
    assert _check_now(setup, LISTED) is True  # the run itself still stored the others
    # The next run, which reads the findings, agrees and takes over.
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert [_check_now(setup, subject) for subject in late] == [True] * len(late)


def _until_waiting(store: Store, waiters: int, seconds: float = 10.0) -> None:
    """Until ``waiters`` lock requests on ``listings`` or of a one-subject re-rating wait (on
    PostgreSQL; on SQLite, a moment)."""
    if store.dialect != "postgresql":
        time.sleep(0.5)
        return
    query = text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND (relation = to_regclass('listings')"
        " OR (locktype = 'advisory' AND classid = :space))"
    )
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        with store.read() as conn:
            # 0x63616E64: the first key of candor.store.ratings.lock_subject's locks.
            if conn.execute(query, {"space": 0x63616E64}).scalar_one() >= waiters:
                return
        time.sleep(0.02)


def test_two_checks_re_rating_one_subject_at_once_both_answer(
    store: Store, settings: Settings, registry: Registry
) -> None:
    """The other interleaving the concurrent test found: two checks of an organisation whose
    finding just arrived re-rate it at the same moment. On PostgreSQL both read the stored
    listings before either inserted, and the second failed on the listings' unique key."""
    setup = _Setup(store, settings, registry)
    _deploy(store, settings, registry)
    organisation = HOT[0]
    assert organisation[0] == ORG  # no rating row to serialise the two on by chance
    late = write_csv(settings.secret_file.parent / "late.csv", [_finding("late-1", organisation)])
    assert ingest_file(store, settings, registry, late, "court-a", today=TODAY).accepted == 1
    hasher = load_secret(settings).identifier_hasher()
    subject_id = subject_id_for(store, hasher, _reference(organisation), TODAY)
    assert subject_id is not None
    outcomes: list[str] = []

    def re_rate() -> None:
        try:
            rerate_subject(store, registry, subject_id, today=TODAY)
            outcomes.append("ok")
        except Exception as e:
            outcomes.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=re_rate) for _ in range(2)]
    # Hold both at their first write to the listings (PostgreSQL: what a batch run's
    # lock_for_batch does; SQLite: any write transaction), then let them go together.
    with store.write() as blocker:
        if store.dialect == "postgresql":
            blocker.execute(text("LOCK TABLE listings IN SHARE ROW EXCLUSIVE MODE"))
        for thread in threads:
            thread.start()
        _until_waiting(store, 2)
    for thread in threads:
        thread.join(60)
    assert outcomes == ["ok", "ok"]
    with store.read() as conn:
        stored = conn.execute(
            select(func.count()).select_from(listings).where(listings.c.subject_id == subject_id)
        ).scalar_one()
    assert stored == 1
    assert _check_now(setup, organisation) is True


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "work"
    work.mkdir()
    yield work


def _join_all(processes: list[BaseProcess], until: float) -> list[str]:
    """Join every process by ``until``; kill and name those still running then."""
    for p in processes:
        p.join(max(0.0, until - time.monotonic()))
    hung = [p.name for p in processes if p.is_alive()]
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join(10)
    return hung


def _read(path: Path) -> dict[str, Any]:
    assert path.is_file(), f"{path.stem} left no result: it died"
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def _longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without an answer."""
    inside = [t for t in times if start <= t <= end]
    return max(b - a for a, b in itertools.pairwise([start, *inside, end]))


CHECKED = [LISTED, CLEAN, UNKNOWN, *HOT]  # what the checkers ask about, round and round
ALWAYS = {LISTED: True, CLEAN: False, UNKNOWN: False}  # answers that never change in the run


def _run_everyone(url: str, secret: str, plans: list[IngesterPlan], out: Path) -> dict[str, float]:
    """Run the checkers, then (once each has answered) the ingesters and the rater; stop the
    rater and the checkers when the ingesters are done. Returns seconds per phase."""
    ctx = multiprocessing.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    references = [_reference(s) for s in CHECKED]
    ready = [ctx.Event() for _ in range(CHECKER_PROCESSES)]
    checkers = [
        ctx.Process(
            target=run_checker,
            args=(
                url,
                secret,
                f"checker-{c}",
                references,
                ready[c],
                stop,
                str(out / f"checker-{c}.json"),
            ),
            name=f"checker-{c}",
        )
        for c in range(CHECKER_PROCESSES)
    ]
    ingesters = [
        ctx.Process(
            target=run_ingester,
            args=(
                url,
                secret,
                [(f.path, f.source) for f in plan.files],
                go,
                str(out / f"{plan.name}.json"),
            ),
            name=plan.name,
        )
        for plan in plans
    ]
    rater = ctx.Process(
        target=run_rater, args=(url, secret, go, stop, str(out / "rater.json")), name="rater"
    )
    everyone = [*checkers, *ingesters, rater]
    began = time.monotonic()
    deadline = began + DEADLINE_SECONDS
    try:
        for p in everyone:
            p.start()
        # The checkers answer before the first record arrives and go on until the last is in.
        for c, event in enumerate(ready):
            assert event.wait(max(0.0, deadline - time.monotonic())), f"checker-{c} never answered"
        started = time.monotonic()
        go.set()
        hung = _join_all(ingesters, deadline)
        ingested = time.monotonic()
        stop.set()
        hung += _join_all([rater, *checkers], deadline)
    finally:
        stop.set()
        go.set()
        for p in everyone:
            if p.is_alive():
                p.kill()
    assert hung == [], f"still running after {DEADLINE_SECONDS} s (deadlocked?): {hung}"
    return {
        "start": started - began,
        "ingest": ingested - started,
        "stop": time.monotonic() - ingested,
    }


def _check_ingesters(plans: list[IngesterPlan], out: Path) -> tuple[float, float]:
    """Every ingester finished; each file's rows were counted as accepted or duplicate.
    Returns when the first ingester started and the last finished."""
    results = {plan.name: _read(out / f"{plan.name}.json") for plan in plans}
    for name, result in results.items():
        assert result["errors"] == [], f"{name} failed:\n" + "\n".join(result["errors"])
    shared = Counter[str]()
    for plan in plans:
        got = results[plan.name]["files"]
        assert len(got) == len(plan.files)
        for sent, counted in zip(plan.files, got, strict=True):
            n = len(sent.rows)
            where = f"{plan.name} {Path(sent.path).name}: {counted}"
            assert (counted["rows_read"], counted["rejected"]) == (n, 0), where
            assert counted["accepted"] + counted["duplicates"] == n, where
            if sent.kind == "new":
                assert counted["accepted"] == n, where
            elif sent.kind == "resent":
                assert counted["duplicates"] == n, where
            else:
                shared.update(accepted=counted["accepted"], duplicates=counted["duplicates"])
    # The file two ingesters sent at once was accepted once in all: never twice, never lost.
    assert shared == {"accepted": SHARED_ROWS, "duplicates": SHARED_ROWS}
    return (
        min(r["started"] for r in results.values()),
        max(r["finished"] for r in results.values()),
    )


def _check_store(store: Store, plans: list[IngesterPlan]) -> dict[tuple[str, str], Any]:
    """Every record sent is stored exactly once, every subject once; returns the records
    sent by (source, source_record_id)."""
    sent = {
        (f.source, row["source_record_id"]): row
        for plan in plans
        for f in plan.files
        for row in f.rows
    }
    with store.read() as conn:
        stored = Counter(
            conn.execute(
                select(sources.c.name, records.c.source_record_id)
                .join(sources, sources.c.id == records.c.source_id)
                .where(sources.c.name != "court-setup")
            ).all()
        )
        runs = Counter(conn.execute(select(ingestions.c.status)).scalars())
        n_subjects = conn.execute(select(func.count()).select_from(subjects)).scalar_one()
        n_identifiers = conn.execute(select(func.count()).select_from(identifiers)).scalar_one()
    assert {k for k, n in stored.items() if n > 1} == set()
    assert set(stored) == set(sent), (
        f"lost: {sorted(set(sent) - set(stored))[:10]}, "
        f"unexpected: {sorted(set(stored) - set(sent))[:10]}"
    )
    assert runs == {"completed": sum(len(p.files) for p in plans) + 1}  # + the one before
    named = {(row["identifier_scheme"], row["identifier"]) for row in sent.values()}
    assert (n_subjects, n_identifiers) == (len(named | {LISTED, CLEAN}),) * 2  # none twice
    return sent


def _check_checkers(window: tuple[float, float], out: Path) -> tuple[Counter[str], float, float]:
    """No check failed; every checker thread answered throughout ``window`` with no long gap,
    and every answer was right when given. Returns the answers per client, the longest gap and
    the slowest check's seconds."""
    start, end = window
    answers: Counter[str] = Counter()
    gaps, slowest = [], 0.0
    for c in range(CHECKER_PROCESSES):
        result = _read(out / f"checker-{c}.json")
        assert result["errors"] == [], f"checker-{c} failed:\n" + "\n".join(result["errors"])
        for thread in result["threads"]:
            client, errors = thread["client"], thread["errors"]
            assert errors == [], f"{client}: {len(errors)} checks failed:\n" + "\n".join(errors[:3])
            times = [t for t, _, _, _ in thread["answers"]]
            during = sum(1 for t in times if start <= t <= end)
            assert during >= MIN_ANSWERS_DURING_INGESTION, (client, during)
            gaps.append(_longest_gap(times, start, end))
            took = sorted((s, t - start) for t, _, _, s in thread["answers"])[-3:]
            assert gaps[-1] < MAX_GAP_SECONDS, (
                f"{client} answered nothing for {gaps[-1]:.2f} s; its slowest checks "
                f"(seconds, done at): {took}"
            )
            slowest = max(slowest, took[-1][0])
            listed_since: dict[int, float] = {}
            for t, which, applies, _ in thread["answers"]:
                subject = CHECKED[which]
                if subject in ALWAYS:
                    assert applies is ALWAYS[subject], (client, subject, t - start)
                elif applies:
                    listed_since.setdefault(which, t)
                else:
                    # A hot subject's findings only accumulate: once listed, listed for good.
                    assert which not in listed_since, (
                        f"{client}: {subject[0]} {which} answered listed at "
                        f"{listed_since[which] - start:.2f} s, then not at {t - start:.2f} s"
                    )
            answers[client] = len(thread["answers"])
    return answers, max(gaps), slowest


@pytest.mark.slow
def test_ingesters_a_batch_rater_and_checkers_at_once(
    store: Store, settings: Settings, registry: Registry, workdir: Path
) -> None:
    began = time.monotonic()
    setup = _Setup(store, settings, registry)
    _deploy(store, settings, registry)
    plans = _plans(workdir)
    phases = _run_everyone(settings.database_url, str(settings.secret_file), plans, workdir)

    window = _check_ingesters(plans, workdir)
    sent = _check_store(store, plans)

    # The rater ran while the records arrived, and never failed.
    rated = _read(workdir / "rater.json")
    assert rated["errors"] == [], "the rater failed:\n" + "\n".join(rated["errors"])
    assert any(started < window[1] for started, _, _ in rated["runs"]), rated["runs"]

    answers, longest_gap, slowest = _check_checkers(window, workdir)
    with store.read() as conn:
        logged = Counter(
            dict(
                conn.execute(
                    select(checks.c.client, func.sum(checks.c.times)).group_by(checks.c.client)
                ).all()
            )
        )
    assert logged == answers  # every answer given was logged, and nothing else

    # A final batch run rates everyone; those with a finding are listed, the others not.
    everyone = {(row["identifier_scheme"], row["identifier"]) for row in sent.values()}
    everyone |= {LISTED, CLEAN}
    summary = rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert summary.subjects == len(everyone)
    # Of the sample rulebooks only rongcheng-personal rates (a score, or the want of consent),
    # and it rates persons; the court rulebook lists and rates no one.
    with store.read() as conn:
        rated_under = Counter(
            conn.execute(
                select(rulebooks.c.name)
                .select_from(ratings)
                .join(rulebooks, rulebooks.c.id == ratings.c.rulebook_id)
            ).scalars()
        )
        per_subject = Counter(conn.execute(select(ratings.c.subject_id)).scalars())
    assert rated_under == {"rongcheng-personal": sum(1 for s in everyone if s[0] == PERSON)}
    assert set(per_subject.values()) == {1}
    with_finding = {
        (row["identifier_scheme"], row["identifier"])
        for row in sent.values()
        if row["record_type"] == "court.dishonest_debtor_finding"
    } | {LISTED}
    assert set(HOT) <= with_finding
    assert {s[0] for s in HOT} == {PERSON, ORG}
    for subject in sorted(with_finding):
        assert _check_now(setup, subject) is True, subject
    for subject in (CLEAN, UNKNOWN, *sorted(everyone - with_finding)[:5]):
        assert _check_now(setup, subject) is False, subject

    print(
        f"\n[{store.dialect}] start {phases['start']:.1f} s, ingestion {phases['ingest']:.1f} s, "
        f"stop {phases['stop']:.1f} s; {len(rated['runs'])} batch runs, "
        f"{sum(answers.values())} checks, longest gap {longest_gap:.2f} s, "
        f"slowest check {slowest:.2f} s; "
        f"total {time.monotonic() - began:.1f} s"
    )

"""Batch rating: candor against a hand-written DuckDB floor and a pandas peer; re-rate latency.

The input is a synthetic jurisdiction (``synthetic_store``): 1M records about 100,000 subjects
and 10M about 1M (100M about 10M with ``--big``, disk and memory permitting), written straight
into a SQLite store with only the Rongcheng rulebook active, and cached under ``bench/work``.
Each measured step runs in a fresh process (``bench.child``), which also gives its peak RSS.

For each size:

- candor end to end: ``rate_all`` from the store, three times — the first run (no records
  mirror yet, no ratings stored: every record is read out of SQLite, every rating written with
  its history line), the daily run after 0.1% new records (a tenth of them later versions of
  stored records), and a repeat run with nothing new, which must write nothing.
- candor's DuckDB stage: ``run_batch`` on the Arrow tables ``rate_all`` reads, best of three,
  against the floor: one hand-written DuckDB statement (``FLOOR_SQL``) on the same tables, with
  the record type dictionary-encoded as ``rate_all`` reads it and as plain text, its faster.
  Target: at most 1.5 times the floor.
- the peer: ``pandas.read_sql`` of the same records from the same store, then the same rules
  in plain pandas (``peer_rate``). Target: the daily run at most 0.2 of the peer's time.

Candor, the floor, the peer and the ratings candor stored must give every subject the same
consent, score and grade, or the benchmark fails (``tests/test_bench_rating.py`` checks the same
on a small store). Single-subject re-rating: ``rerate_subject`` for 1,000 random persons in the
largest default store on SQLite, and in a copy of the 1M store on PostgreSQL when one is
configured; p50 and p99, target p99 ≤ 20 ms.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from bench.child import Report, run_child_shown
from bench.core import TODAY, Area, Context, Result, Target, absolute, compared
from bench.pg import libpq_url, schema_url, scratch_schemas
from candor.engine.execute import run_batch
from candor.services.rating import rate_all, rerate_subject
from candor.services.registry import load_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate, governing, plan_for
from candor.services.secret import load_secret
from candor.services.setup import init_deployment
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import export, open_store
from candor.store.ratings import watermark

AREA_NAME = "rating"
RULEBOOK = SAMPLE_RULEBOOKS / "rongcheng-personal.yaml"
EFFECTIVE = date(2017, 5, 1)
SOURCE = "bench"
EPOCH = date(1970, 1, 1)
FIRST_DAY = date(2018, 1, 1)

# --- the synthetic jurisdiction ------------------------------------------------------------------
#
# Generated with numpy, not the synth package: the synth package builds people one by one with
# names and valid identifiers, which takes minutes for 1M subjects; rating reads none of that.
# Per subject: a kind (9 in 10 persons), for most persons a consent record (some later withdrawn,
# a few granted again), and about ten records of the types below, by kind. Two in a hundred
# records are later versions of an earlier one (a correction, or a decision overturned or put
# under review); a few of those are corrected again. Dates spread over 2018 to ``TODAY``, so
# every rule's three-year window cuts through the data.

PERSON_TYPES: dict[str, float] = {
    "traffic.violation": 0.25,
    "utility.late_fees": 0.12,
    "civic.volunteer_service": 0.12,  # not read by Rongcheng: filtered out by record type
    "finance.card_overdue_cycle": 0.10,
    "finance.loan_default": 0.07,
    "court.enforcement_order": 0.05,
    "contract.breach_found": 0.04,
    "commerce.fraud_finding": 0.04,
    "finance.guarantor_breach": 0.03,
    "utility.unpaid_fees_ruling": 0.03,
    "court.dishonest_debtor_finding": 0.02,  # not read by Rongcheng
    "utility.heating_tapping": 0.02,
    "utility.theft": 0.02,
    "traffic.drunk_driving": 0.02,
    "finance.illegal_fundraising_investigation": 0.01,
    "utility.equipment_damage": 0.01,
    "civic.heroic_act": 0.05,
}
ORGANISATION_TYPES: dict[str, float] = {
    "market.admin_penalty": 0.30,
    "market.abnormal_operations": 0.10,
    "finance.loan_default": 0.15,
    "utility.late_fees": 0.15,
    "contract.breach_found": 0.10,
    "court.enforcement_order": 0.10,
    "commerce.fraud_finding": 0.05,
    "utility.theft": 0.05,
}
CONSENT_GRANTED, CONSENT_WITHDRAWN = "consent.scoring_granted", "consent.scoring_withdrawn"
TYPES = tuple(sorted({*PERSON_TYPES, *ORGANISATION_TYPES, CONSENT_GRANTED, CONSENT_WITHDRAWN}))
FRAUD_KINDS = ("pyramid", "fraud", "counterfeit", "other")
CORRECTED_SHARE = 0.02
STATUSES = ("final", "under_review", "overturned")
BASE_STATUS_P = (0.97, 0.02, 0.01)
LATER_STATUS_P = (0.6, 0.15, 0.25)
CHUNK = 1_000_000


@dataclass(frozen=True)
class SyntheticStore:
    """A generated SQLite store and what is in it."""

    path: Path
    records: int
    subjects: int
    max_record_id: int  # the generated records; ids above it were appended by a benchmark
    rulebook_id: int
    seconds: float  # to generate it (once; later runs reuse it)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["path"] = str(self.path)
        return doc


def _days(day: date) -> int:
    return (day - EPOCH).days


def _pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    """Indexes into ``TYPES`` drawn by ``weights``."""
    names = list(weights)
    p = np.array([weights[t] for t in names])
    codes = np.array([TYPES.index(t) for t in names], dtype=np.int8)
    return codes[rng.choice(len(names), size=n, p=p / p.sum())]


def _attributes(rng: np.random.Generator, types: np.ndarray) -> pl.Series:
    """JSON text of each record's attributes as ingestion writes it: compact, keys sorted."""
    n = len(types)
    frame = pl.DataFrame(
        {
            "t": pl.Series(types, dtype=pl.Int8),
            "months": rng.geometric(0.45, n).clip(1, 120),
            "amount": rng.integers(100, 500_000, n),
            "kind": pl.Series(np.array(FRAUD_KINDS)[rng.integers(0, 4, n)]),
            "severity": rng.integers(1, 11, n),
            "ground": rng.integers(1, 7, n),
            "code": rng.integers(1000, 9999, n),
            "case": rng.integers(1, 99_999, n),
        }
    )

    def json(*parts: str | pl.Expr) -> pl.Expr:
        return pl.concat_str(
            [pl.lit(p) if isinstance(p, str) else p.cast(pl.String) for p in parts]
        )

    case = json('"(2024)执', pl.col("case"), '号"')

    def is_(name: str) -> pl.Expr:
        return pl.col("t") == TYPES.index(name)

    text = (
        pl.when(is_("finance.card_overdue_cycle"))
        .then(json('{"amount":', pl.col("amount"), ',"months":', pl.col("months"), "}"))
        .when(is_("commerce.fraud_finding"))
        .then(json('{"kind":"', pl.col("kind"), '","severity":', pl.col("severity"), "}"))
        .when(is_("traffic.violation"))
        .then(json('{"code":"', pl.col("code"), '"}'))
        .when(is_("court.enforcement_order") | is_("contract.breach_found"))
        .then(json('{"amount":', pl.col("amount"), ',"case_no":', case, "}"))
        .when(is_("court.dishonest_debtor_finding"))
        .then(json('{"case_no":', case, ',"ground":', pl.col("ground"), "}"))
        .when(
            is_("finance.loan_default")
            | is_("finance.guarantor_breach")
            | is_("utility.late_fees")
            | is_("utility.unpaid_fees_ruling")
        )
        .then(json('{"amount":', pl.col("amount"), "}"))
        .when(is_("market.admin_penalty"))
        .then(json('{"amount":', pl.col("amount"), ',"area":"general","severity":"ordinary"}'))
        .when(is_("market.abnormal_operations"))
        .then(pl.lit('{"reason":"not reachable at its registered address"}'))
        .when(is_("civic.volunteer_service"))
        .then(json('{"hours":', pl.col("severity"), "}"))
        .otherwise(pl.lit("{}"))
    )
    return frame.select(text.alias("attributes")).to_series()


@dataclass
class _Drawn:
    """Every generated record, in id order (id = position + 1)."""

    subject: np.ndarray  # int64 subject ids
    type: np.ndarray  # int8 index into TYPES
    decided: np.ndarray  # int32 days since 1970
    occurred: np.ndarray
    status: np.ndarray  # int8 index into STATUSES
    refers_to: np.ndarray  # int64 record id, 0 for none
    original: np.ndarray  # int64 record id, 0 for none


def _draw(rng: np.random.Generator, records: int, subjects: int, first_id: int = 1) -> _Drawn:
    """``records`` records about subjects ``1..subjects``, ids from ``first_id``."""
    person = np.ones(subjects + 1, dtype=bool)
    person[1:] = _kinds(subjects)
    start, end = _days(FIRST_DAY), _days(TODAY)

    # Consent: about 6 in 10 persons grant it; 1 in 10 of those withdraws, 3 in 10 of whom
    # grant it again. Each record later than the one before.
    persons = np.flatnonzero(person[1:]) + 1
    granted = persons[rng.random(len(persons)) < 0.6]
    granted = granted[: max(0, min(len(granted), records // 20))]
    g_day = rng.integers(start, end, len(granted))
    withdrawn = rng.random(len(granted)) < 0.1
    w_subject, w_day = granted[withdrawn], g_day[withdrawn] + 1
    w_day = w_day + (rng.random(len(w_day)) * (end - w_day)).astype(np.int64)
    again = rng.random(len(w_subject)) < 0.3
    a_subject, a_day = w_subject[again], np.minimum(w_day[again] + 30, end)
    c_subject = np.concatenate([granted, w_subject, a_subject])
    c_day = np.concatenate([g_day, w_day, a_day])
    c_type = np.concatenate(
        [
            np.full(len(granted), TYPES.index(CONSENT_GRANTED)),
            np.full(len(w_subject), TYPES.index(CONSENT_WITHDRAWN)),
            np.full(len(a_subject), TYPES.index(CONSENT_GRANTED)),
        ]
    ).astype(np.int8)

    corrections = round(records * CORRECTED_SHARE)
    base = records - len(c_subject) - corrections
    b_subject = rng.integers(1, subjects + 1, base)
    b_type = _pick(rng, PERSON_TYPES, base)
    orgs = ~person[b_subject]
    b_type[orgs] = _pick(rng, ORGANISATION_TYPES, int(orgs.sum()))
    b_day = rng.integers(start, end + 1, base)
    b_status = rng.choice(3, base, p=BASE_STATUS_P).astype(np.int8)

    subject = np.concatenate([b_subject, c_subject]).astype(np.int64)
    kind = np.concatenate([b_type, c_type])
    decided = np.concatenate([b_day, c_day]).astype(np.int32)
    status = np.concatenate([b_status, np.zeros(len(c_subject), dtype=np.int8)])
    refers_to = np.zeros(len(subject), dtype=np.int64)
    original = np.zeros(len(subject), dtype=np.int64)

    # Later versions: most of an original record, some of an earlier later version. Same
    # subject and type, decided later, referring to the version they follow.
    second = corrections // 7
    rounds = ((0, base), (len(subject), corrections - second))  # (first position, how many)
    for (first, pool), n in zip(rounds, (corrections - second, second), strict=True):
        if n == 0 or pool == 0:
            continue
        target = first + rng.integers(0, pool, n)  # positions of the versions they follow
        refers_to = np.concatenate([refers_to, target + first_id])
        chain = np.where(original[target] > 0, original[target], target + first_id)
        original = np.concatenate([original, chain])
        subject = np.concatenate([subject, subject[target]])
        kind = np.concatenate([kind, kind[target]])
        later = np.minimum(decided[target] + rng.integers(1, 400, n), end)
        decided = np.concatenate([decided, later.astype(np.int32)])
        status = np.concatenate([status, rng.choice(3, n, p=LATER_STATUS_P).astype(np.int8)])
    occurred = decided - rng.integers(0, 90, len(decided)).astype(np.int32)
    return _Drawn(subject, kind, decided, occurred, status, refers_to, original)


def _kinds(subjects: int) -> np.ndarray:
    """Whether each subject ``1..subjects`` is a person: the same for every seed and size."""
    return np.random.default_rng(12345).random(subjects) < 0.9


def _iso(days: np.ndarray) -> pl.Series:
    return pl.Series(days, dtype=pl.Int32).cast(pl.Date).dt.to_string("%Y-%m-%d")


def _source_ids(ids: np.ndarray) -> pl.Series:
    # Zero-padded, so that the unique index on (source_id, source_record_id) grows at its end.
    return pl.Series(ids, dtype=pl.Int64).cast(pl.String).str.zfill(10).str.pad_start(11, "r")


def _record_chunk(
    rng: np.random.Generator, drawn: _Drawn, lo: int, hi: int, first_id: int, ids: tuple[int, int]
) -> pa.Table:
    """Records ``lo..hi`` of ``drawn`` as rows of the records table (as SQLite stores them)."""
    source_id, batch_id = ids
    n = hi - lo
    record_ids = np.arange(lo, hi, dtype=np.int64) + first_id
    refers = drawn.refers_to[lo:hi]
    original = drawn.original[lo:hi]
    types = drawn.type[lo:hi]
    frame = (
        pl.DataFrame(
            {
                "id": record_ids,
                "source_id": np.full(n, source_id, dtype=np.int64),
                "source_record_id": _source_ids(record_ids),
                "subject_id": drawn.subject[lo:hi],
                "identifier_id": drawn.subject[lo:hi],
                "record_type": pl.Series(np.array(TYPES, dtype=object)[types], dtype=pl.String),
                "name": pl.Series(["bench"] * n, dtype=pl.String),
                "occurred_on": _iso(drawn.occurred[lo:hi]),
                "decided_on": _iso(drawn.decided[lo:hi]),
                "legal_basis": pl.Series(["synthetic record"] * n, dtype=pl.String),
                "status": pl.Series(np.array(STATUSES, dtype=object)[drawn.status[lo:hi]]),
                "refers_to": _source_ids(refers),
                "refers_to_id": refers,
                "original_id": original,
                "attributes": _attributes(rng, types),
                "batch_id": np.full(n, batch_id, dtype=np.int64),
            }
        )
        .with_columns(
            pl.when(pl.col("refers_to_id") > 0).then(pl.col(c)).alias(c)
            for c in ("refers_to", "refers_to_id")
        )
        .with_columns(
            pl.when(pl.col("original_id") > 0).then(pl.col("original_id")).alias("original_id")
        )
    )
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest())


def _bulk_connection(path: Path) -> Any:
    """An ADBC connection for loading generated rows (a transaction per call, no fsync).

    The documented bulk path of this benchmark: rows that ``_draw`` made consistent (every
    foreign key names a row written before it) go straight into candor's tables, past
    ingestion's validation, hashing and subject resolution, which ``bench.ingest`` measures.
    No other connection of this process may have the file open meanwhile: ADBC links its own
    copy of SQLite (see ``candor.store.export``).
    """
    import adbc_driver_sqlite.dbapi as sqlite_adbc  # noqa: PLC0415

    conn = sqlite_adbc.connect(str(path), autocommit=True)
    with conn.cursor() as cur:
        cur.execute("PRAGMA synchronous = OFF")
        cur.execute("PRAGMA cache_size = -1048576")  # 1 GiB for the indexes being built
    return conn


def _write_subjects(conn: Any, subjects: int, key_id: int, seed: int) -> None:
    ids = np.arange(1, subjects + 1, dtype=np.int64)
    person = _kinds(subjects)
    created = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)
    stamp = created.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    refs = pl.Series(ids).cast(pl.String).str.zfill(20).str.pad_start(21, "S")
    digests = np.random.default_rng(seed + 1).bytes(32 * subjects)
    with conn.cursor() as cur:
        cur.adbc_ingest(
            "subjects",
            pa.table(
                {
                    "id": ids,
                    "ref": refs.to_arrow(),
                    "kind": pa.array(np.where(person, "person", "organisation")),
                    "created_at": pa.array([stamp] * subjects),
                }
            ),
            mode="append",
        )
        digest = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(32), subjects, [None, pa.py_buffer(digests)]
        ).cast(pa.binary())
        cur.adbc_ingest(
            "identifiers",
            pa.table(
                {
                    "id": ids,
                    "subject_id": ids,
                    "scheme": pa.array(np.where(person, "cn_resident_id", "cn_uscc")),
                    "key_id": pa.array(np.full(subjects, key_id, dtype=np.int64)),
                    "digest": digest,
                    "created_at": pa.array([stamp] * subjects),
                }
            ),
            mode="append",
        )


def _write_batch(cur: Any, source_id: int, rows: int) -> int:
    """The ingestion and its one batch that generated records say they came in (``cur``: a
    DB-API cursor, ADBC's or sqlite3's)."""
    stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    cur.execute("SELECT coalesce(max(id), 0) + 1 FROM ingestions")
    (ingestion,) = cur.fetchone()
    cur.execute(
        "INSERT INTO ingestions (id, source_id, channel, file_name, started_at, finished_at, "
        "status, rows_read, accepted, rejected, duplicates) "
        "VALUES (?, ?, 'file', 'synthetic', ?, ?, 'completed', ?, ?, 0, 0)",
        (ingestion, source_id, stamp, stamp, rows, rows),
    )
    cur.execute("SELECT coalesce(max(id), 0) + 1 FROM ingest_batches")
    (batch,) = cur.fetchone()
    cur.execute(
        "INSERT INTO ingest_batches (id, ingestion_id, seq, first_row, last_row, accepted, "
        "rejected, duplicates, committed_at) VALUES (?, ?, 1, 1, ?, ?, 0, 0, ?)",
        (batch, ingestion, rows, rows, stamp),
    )
    return int(batch)


def _write_records(
    conn: Any, rng: np.random.Generator, drawn: _Drawn, first_id: int, source_id: int
) -> None:
    with conn.cursor() as cur:
        batch = _write_batch(cur, source_id, len(drawn.subject))
        for lo in range(0, len(drawn.subject), CHUNK):
            hi = min(lo + CHUNK, len(drawn.subject))
            chunk = _record_chunk(rng, drawn, lo, hi, first_id, (source_id, batch))
            cur.adbc_ingest("records", chunk, mode="append")


# Bump when the generator changes what it writes: cached stores of another version are rebuilt.
GENERATOR_VERSION = 2
MANIFEST = "manifest.json"


def synthetic_store(
    work: Path, *, records: int, subjects: int, seed: int = 0, say: Any = None
) -> SyntheticStore:
    """A SQLite store of ``records`` records about ``subjects`` subjects, with the Rongcheng
    rulebook active: built once under ``work``, then reused (reset to its generated state)."""
    directory = work / "rating" / f"store-r{records}-s{subjects}-seed{seed}"
    path = directory / "candor.db"
    parameters = {"records": records, "subjects": subjects, "seed": seed}
    parameters["generator"] = GENERATOR_VERSION
    try:
        doc = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    settings = Settings.load(
        environ={}, database_url=f"sqlite:///{path}", secret_file=directory / "bench.secret"
    )
    if doc.get("parameters") == parameters and path.is_file():
        made = SyntheticStore(path, **doc["store"])
        init_deployment(settings)  # migrates a store generated under an older schema
        reset(made)
        return made
    if say:
        say(f"rating: generating {records:,} records about {subjects:,} subjects (cached after)")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    init_deployment(settings)
    registry = load_registry(settings)
    key_id = load_secret(settings).identifier_hasher().key_id
    with open_store(settings.database_url) as store:
        source_id = add_source(store, registry, SOURCE, TYPES, "synthetic").source.id
        rulebook_id = activate(store, registry, RULEBOOK, effective=EFFECTIVE, today=TODAY).id
    rng = np.random.default_rng(seed)
    drawn = _draw(rng, records, subjects)
    conn = _bulk_connection(path)
    try:
        _write_subjects(conn, subjects, key_id, seed)
        _write_records(conn, rng, drawn, 1, source_id)
    finally:
        conn.close()
    made = SyntheticStore(
        path, records, subjects, records, rulebook_id, time.perf_counter() - started
    )
    stored = {k: v for k, v in made.to_json().items() if k != "path"}
    (directory / MANIFEST).write_text(
        json.dumps({"parameters": parameters, "store": stored}, indent=2), encoding="utf-8"
    )
    return made


# Tables a benchmark run fills; emptied again before the next.
RUN_TABLES = ("checks", "listings", "rating_changes", "ratings", "subject_rerates", "rating_runs")


def reset(made: SyntheticStore) -> None:
    """Back to the generated state: no ratings, no appended records, no mirror."""
    conn = sqlite3.connect(made.path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for table in RUN_TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM records WHERE id > ?", (made.max_record_id,))
        conn.execute("DELETE FROM ingest_batches WHERE id > 1")
        conn.execute("DELETE FROM ingestions WHERE id > 1")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for mirror in made.path.parent.glob("*.mirror"):
        shutil.rmtree(mirror)


# --- the floor and the peer: the Rongcheng rules by hand ---------------------------------------
#
# Both implement exactly what rongcheng-personal.yaml says, as candor's compiler reads it: a
# record counts when it is the latest version of its decision (chains by original_id, latest by
# decided_on then id) and that version is final; a rule's three-year window runs from the
# decision's first version; a person is scored only when their latest consent record (a counted
# one) grants it; score = max(1000 + points, 0); grade by band, drunk driving in the window
# forces C unless the band is worse.

RULE_POINTS: dict[str, int] = {
    "finance.loan_default": -20,
    "contract.breach_found": -50,
    "finance.guarantor_breach": -20,
    "finance.illegal_fundraising_investigation": -40,
    "court.enforcement_order": -30,
    "utility.late_fees": -20,
    "utility.unpaid_fees_ruling": -50,
    "utility.heating_tapping": -50,
    "utility.theft": -60,
    "utility.equipment_damage": -100,
    "traffic.violation": -5,
    "civic.heroic_act": 30,
}
CARD, FRAUD, DRUNK = "finance.card_overdue_cycle", "commerce.fraud_finding", "traffic.drunk_driving"
RATED_TYPES = tuple(sorted({*RULE_POINTS, CARD, FRAUD, DRUNK, CONSENT_GRANTED, CONSENT_WITHDRAWN}))
# (grade, lowest score), best first; below the last, D.
BANDS = (("AAA", 1050), ("AA", 1030), ("A", 960), ("B", 850), ("C", 600))


def _points_sql() -> str:
    fixed = " ".join(f"WHEN '{t}' THEN {p}" for t, p in RULE_POINTS.items())
    return (
        f"CASE record_type {fixed} "
        f"WHEN '{CARD}' THEN -10 * COALESCE(CAST(attributes ->> '$.months' AS BIGINT), 0) "
        f"WHEN '{FRAUD}' THEN CASE "
        "WHEN attributes ->> '$.kind' IN ('pyramid', 'fraud', 'counterfeit') THEN -30 "
        "WHEN attributes ->> '$.kind' = 'other' THEN LEAST(GREATEST("
        "CAST(FLOOR(CAST(attributes ->> '$.severity' AS BIGINT) * -5 + 0.5) AS BIGINT), -50), -5) "
        "ELSE 0 END ELSE 0 END"
    )


def _grade_sql() -> str:
    bands = " ".join(f"WHEN score >= {low} THEN '{grade}'" for grade, low in BANDS[:3])
    return (
        "CASE WHEN NOT consented THEN NULL WHEN score < 600 THEN 'D' "
        f"WHEN drunk OR score < 850 THEN 'C' {bands} ELSE 'B' END"
    )


# One statement over the same Arrow tables candor's DuckDB stage gets. Most records are their
# decision's only version: they skip the window; the rest take the latest of each chain.
FLOOR_SQL = f"""
WITH corrected AS (
    SELECT DISTINCT original_id AS chain FROM records
    WHERE original_id IS NOT NULL AND decided_on <= $as_of
), facts AS (
    SELECT id, subject_id, record_type, decided_on, attributes, decided_on AS first_decided
    FROM records
    WHERE original_id IS NULL AND decided_on <= $as_of AND status = 'final'
      AND id NOT IN (SELECT chain FROM corrected)
    UNION ALL
    SELECT id, subject_id, record_type, decided_on, attributes, first_decided FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY chain ORDER BY decided_on DESC, id DESC) AS n,
               MIN(decided_on) OVER (PARTITION BY chain) AS first_decided
        FROM (SELECT *, COALESCE(original_id, id) AS chain FROM records
              WHERE decided_on <= $as_of) AS versions
        WHERE chain IN (SELECT chain FROM corrected)
    ) AS latest WHERE n = 1 AND status = 'final'
), per_subject AS (
    SELECT subject_id,
        SUM(CASE WHEN first_decided + INTERVAL 3 YEAR > $as_of THEN {_points_sql()} END)
            AS points,
        BOOL_OR(record_type = '{DRUNK}' AND first_decided + INTERVAL 3 YEAR > $as_of) AS drunk,
        ARG_MAX(record_type = '{CONSENT_GRANTED}', (decided_on, id)) FILTER (
            WHERE record_type IN ('{CONSENT_GRANTED}', '{CONSENT_WITHDRAWN}')) AS consented
    FROM facts GROUP BY subject_id
), scored AS (
    SELECT subjects.id AS subject_id, COALESCE(consented, FALSE) AS consented,
           GREATEST(1000 + COALESCE(points, 0), 0) AS score, COALESCE(drunk, FALSE) AS drunk
    FROM subjects LEFT JOIN per_subject ON per_subject.subject_id = subjects.id
    WHERE subjects.kind = 'person'
)
SELECT subject_id, CAST(consented AS BIGINT) AS consented,
       CASE WHEN consented THEN score END AS score, {_grade_sql()} AS grade
FROM scored
"""


def floor_ratings(records: pa.Table, subjects: pa.Table, as_of: date) -> pa.Table:
    """The floor: one hand-written DuckDB statement over the Arrow tables candor's DuckDB stage
    reads (subject_id, consented, score, grade per person)."""
    import duckdb  # noqa: PLC0415

    con = duckdb.connect()
    try:
        con.register("records", records)
        con.register("subjects", subjects)
        return con.sql(FLOOR_SQL, params={"as_of": as_of}).to_arrow_table()
    finally:
        con.close()


def peer_read(path: Path, as_of: date) -> tuple[Any, Any]:
    """The peer's reading: ``pandas.read_sql`` of the records Rongcheng reads, and the subjects."""
    import pandas as pd  # noqa: PLC0415

    marks = ", ".join("?" * len(RATED_TYPES))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        records = pd.read_sql(
            "SELECT id, subject_id, record_type, decided_on, status, original_id, attributes "
            f"FROM records WHERE record_type IN ({marks}) AND decided_on <= ?",
            conn,
            params=[*RATED_TYPES, as_of.isoformat()],
        )
        subjects = pd.read_sql("SELECT id, kind FROM subjects", conn)
    finally:
        conn.close()
    return records, subjects


def peer_rate(records: Any, subjects: Any, as_of: date) -> Any:
    """The peer's rating: the same rules in plain pandas (subject_id, consented, score, grade)."""
    import pandas as pd  # noqa: PLC0415

    day = pd.Timestamp(as_of)
    versions = records.assign(
        decided_on=pd.to_datetime(records["decided_on"]),
        chain=records["original_id"].fillna(records["id"]).astype("int64"),
    )
    versions = versions.sort_values(["chain", "decided_on", "id"])
    first = versions.groupby("chain")["decided_on"].min()
    facts = versions.drop_duplicates("chain", keep="last")
    facts = facts[facts["status"] == "final"].copy()
    facts["first_decided"] = facts["chain"].map(first)
    counts = facts["first_decided"] + pd.DateOffset(years=3) > day

    points = facts["record_type"].map(RULE_POINTS).fillna(0)
    card = facts["record_type"] == CARD
    months = facts.loc[card, "attributes"].map(json.loads).str.get("months")
    points[card] = -10 * months.fillna(0)
    fraud = facts["record_type"] == FRAUD
    found = facts.loc[fraud, "attributes"].map(json.loads)
    kind, severity = found.str.get("kind"), found.str.get("severity")
    other = (-5 * severity + 0.5).apply(np.floor).clip(-50, -5)
    points[fraud] = np.where(kind.isin(["pyramid", "fraud", "counterfeit"]), -30, 0)
    points[fraud] = points[fraud].where(kind != "other", other)
    per_subject = points[counts].groupby(facts.loc[counts, "subject_id"]).sum()

    drunk = set(facts.loc[counts & (facts["record_type"] == DRUNK), "subject_id"])
    consent = facts[facts["record_type"].isin([CONSENT_GRANTED, CONSENT_WITHDRAWN])]
    consent = consent.sort_values(["decided_on", "id"]).drop_duplicates("subject_id", keep="last")
    granted = set(consent.loc[consent["record_type"] == CONSENT_GRANTED, "subject_id"])

    persons = subjects[subjects["kind"] == "person"]
    out = pd.DataFrame({"subject_id": persons["id"].to_numpy()})
    out["consented"] = out["subject_id"].isin(granted).astype("int64")
    total = 1000 + out["subject_id"].map(per_subject).fillna(0)
    score = total.clip(lower=0).astype("int64")
    grade = pd.Series(
        np.select(
            [score < 600, out["subject_id"].isin(drunk) | (score < 850)]
            + [score >= low for _, low in BANDS[:3]],
            ["D", "C", *(g for g, _ in BANDS[:3])],
            "B",
        ),
        index=out.index,
    )
    consented = out["consented"] == 1
    out["score"] = score.astype("Int64").where(consented)
    out["grade"] = grade.where(consented, None)
    return out


# --- a day's records -----------------------------------------------------------------------------


def append_records(made: SyntheticStore, count: int, seed: int) -> int:
    """Add ``count`` records, as a day's ingestion would: most about new decisions, one in ten
    a later version of a stored record. Returns the id of the last record.

    Written with Python's sqlite3, the library the store's own connections use (see
    ``candor.store.export`` on two copies of SQLite in one process).
    """
    conn = sqlite3.connect(made.path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (last_id,) = conn.execute("SELECT max(id) FROM records").fetchone()
        (source_id,) = conn.execute("SELECT id FROM sources WHERE name = ?", (SOURCE,)).fetchone()
        rng = np.random.default_rng(seed)
        later = count // 10
        drawn = _draw(rng, count - later, made.subjects, first_id=last_id + 1)
        targets = np.unique(rng.integers(1, made.max_record_id + 1, later))
        stored = conn.execute(
            "SELECT id, subject_id, record_type, decided_on, coalesce(original_id, id) "
            "FROM records WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(targets.tolist()),),
        ).fetchall()
        ids, subject, kind, decided, chain = (np.array(c) for c in zip(*stored, strict=True))
        day = np.array([_days(date.fromisoformat(d)) for d in decided])
        day = np.minimum(day + rng.integers(1, 400, len(day)), _days(TODAY)).astype(np.int32)
        drawn = _Drawn(
            np.concatenate([drawn.subject, subject.astype(np.int64)]),
            np.concatenate([drawn.type, [TYPES.index(t) for t in kind]]).astype(np.int8),
            np.concatenate([drawn.decided, day]).astype(np.int32),
            np.concatenate([drawn.occurred, day - rng.integers(0, 90, len(day))]).astype(np.int32),
            np.concatenate([drawn.status, rng.choice(3, len(day), p=LATER_STATUS_P)]).astype(
                np.int8
            ),
            np.concatenate([drawn.refers_to, ids.astype(np.int64)]),
            np.concatenate([drawn.original, chain.astype(np.int64)]),
        )
        n = len(drawn.subject)
        batch = _write_batch(conn.cursor(), source_id, n)
        chunk = _record_chunk(rng, drawn, 0, n, last_id + 1, (source_id, batch))
        names = chunk.column_names
        conn.executemany(
            f"INSERT INTO records ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            list(zip(*(chunk[c].to_pylist() for c in names), strict=True)),
        )
        conn.execute("COMMIT")
        return int(last_id + n)
    finally:
        conn.close()


# --- the measured steps, each run in a fresh process (bench.child) -------------------------------


def _settings(database_url: str, secret_file: str) -> Settings:
    return Settings.load(environ={}, database_url=database_url, secret_file=Path(secret_file))


def rate_step(
    *, database_url: str, secret_file: str, today: str, mirror_dir: str | None, report: Report
) -> dict[str, Any]:
    """``rate_all`` once, end to end from the store, timed from call to return."""
    settings = _settings(database_url, secret_file)
    registry = load_registry(settings)
    day = date.fromisoformat(today)
    with open_store(database_url) as store:
        started = time.perf_counter()
        summary = rate_all(
            store,
            registry,
            as_of=day,
            today=day,
            on_progress=lambda stage: report({"stage": stage}),
            mirror_dir=Path(mirror_dir) if mirror_dir else None,
        )
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "summary": summary.to_json()}


def _ratings_of(table: pa.Table) -> pa.Table:
    """What the three implementations are compared on, in subject order."""
    return table.select(["subject_id", "consented", "score", "grade"]).sort_by("subject_id")


def stage_step(
    *,
    database_url: str,
    secret_file: str,
    today: str,
    repeats: int,
    out: str,
    report: Report,
) -> dict[str, Any]:
    """candor's DuckDB stage (``run_batch``) and the floor, alternately, on the same Arrow tables
    (the records as ``rate_all`` reads them); the last outputs written to ``out``."""
    settings = _settings(database_url, secret_file)
    day = date.fromisoformat(today)
    with open_store(database_url) as store:
        rulebooks = governing(store, day)
        plan = plan_for(rulebooks, load_registry(settings), one_subject=False)
        types = sorted(set().union(*(a.rulebook.record_types() for a in rulebooks)))
        with store.read() as conn:
            through = watermark(conn)
        records = export.records(store, types, day, through)
        subjects = export.subjects(store)
    # The floor gets the records both ways, as ``rate_all`` reads them (record types
    # dictionary-encoded) and with the record type as plain text, and its faster time counts:
    # the dictionary helps candor's filters but slows the floor's CASE on the record type.
    column = records.schema.get_field_index("record_type")
    as_text = records.set_column(column, "record_type", records["record_type"].cast(pa.string()))
    candor_seconds, floor_seconds, floor_text_seconds = [], [], []
    for n in range(repeats):
        started = time.perf_counter()
        computed = run_batch(plan, records, subjects, day)
        candor_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        floor = floor_ratings(records, subjects, day)
        floor_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        floor_ratings(as_text, subjects, day)
        floor_text_seconds.append(time.perf_counter() - started)
        report({"done": n + 1})
    target = Path(out)
    pq.write_table(_ratings_of(computed["ratings"]), target / "candor.parquet")
    pq.write_table(_ratings_of(floor), target / "floor.parquet")
    return {
        "candor": candor_seconds,
        "floor": [min(a, b) for a, b in zip(floor_seconds, floor_text_seconds, strict=True)],
        "floor_dictionary": floor_seconds,
        "floor_text": floor_text_seconds,
        "records": records.num_rows,
        "subjects": subjects.num_rows,
        "contributions": computed["contributions"].num_rows,
    }


def peer_step(*, path: str, today: str, out: str, report: Report) -> dict[str, Any]:
    """The pandas peer: ``read_sql`` from the store, then the rules; its output to ``out``."""
    day = date.fromisoformat(today)
    started = time.perf_counter()
    records, subjects = peer_read(Path(path), day)
    read = time.perf_counter() - started
    report({"read": read})
    started = time.perf_counter()
    rated = peer_rate(records, subjects, day)
    rate = time.perf_counter() - started
    pq.write_table(
        _ratings_of(pa.Table.from_pandas(rated, preserve_index=False)),
        Path(out) / "peer.parquet",
    )
    return {"read": read, "rate": rate, "records": len(records)}


def rerate_step(
    *,
    database_url: str,
    secret_file: str,
    today: str,
    subjects: list[int],
    warm_up: int,
    report: Report,
) -> dict[str, Any]:
    """``rerate_subject`` for each subject in turn; milliseconds of each after the warm-up."""
    settings = _settings(database_url, secret_file)
    registry = load_registry(settings)
    day = date.fromisoformat(today)
    latencies = []
    with open_store(database_url) as store:
        for n, subject_id in enumerate(subjects):
            started = time.perf_counter()
            rerate_subject(store, registry, subject_id, today=day)
            if n >= warm_up:
                latencies.append((time.perf_counter() - started) * 1000)
            if n % 100 == 0:
                report({"done": n})
    return {"ms": latencies}


# --- the area ------------------------------------------------------------------------------------

# (records, subjects): the default run's sizes; --big adds the last, memory and disk permitting.
SIZES = ((1_000_000, 100_000), (10_000_000, 1_000_000))
BIG_SIZES = ((100_000_000, 10_000_000),)
# A day's new records, as a share of the store, before the measured daily run.
DAILY_SHARE = 0.001
STAGE_REPEATS = 3
RERATES = 1_000
RERATE_WARM_UP = 20
# Roughly what a size needs per record, from the peak RSS measured at 10M (candor's runs about
# 4.0 GiB, the pandas peer 5.6 GiB), and the SQLite file plus its mirror on disk.
CANDOR_BYTES_PER_RECORD = 450
PEER_BYTES_PER_RECORD = 650
DISK_BYTES_PER_RECORD = 320

STAGE_TARGET = Target("<=", 1.5, "× the floor")
END_TO_END_TARGET = Target("<=", 0.2, "of the peer's time (≥ 5× faster)")
RERATE_TARGET = Target("<=", 20, "ms")
PG_SKIPPED = "skipped: set CANDOR_BENCH_PG_URL (or CANDOR_TEST_PG_URL) to measure PostgreSQL"


def _size(records: int) -> str:
    return f"{records // 1_000_000}M" if records >= 1_000_000 else f"{records:,}"


def _benchmark(records: int, subjects: int) -> str:
    return f"batch rating {_size(records)} records / {_size(subjects)} subjects (Rongcheng)"


def _available_bytes(field_name: str = "MemAvailable:") -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith(field_name):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run(ctx: Context) -> list[Result]:
    work = ctx.work / AREA_NAME
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Result] = []
    stores: dict[int, SyntheticStore] = {}
    for records, subjects in (*SIZES, *(BIG_SIZES if ctx.big else ())):
        name = _benchmark(records, subjects)
        rows += ctx.guarded(
            AREA_NAME, name, lambda r=records, s=subjects: _batch(ctx, work, r, s, stores)
        )
    rows += ctx.guarded(AREA_NAME, "re-rate one subject", lambda: _rerates(ctx, work, stores))
    return rows


def _child(ctx: Context, label: str, target: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return run_child_shown(ctx.progress, "rating", label, f"bench.rating:{target}", kwargs)


def _batch(
    ctx: Context, work: Path, records: int, subjects: int, stores: dict[int, SyntheticStore]
) -> list[Result]:
    name = _benchmark(records, subjects)
    if records > SIZES[-1][0]:
        need_disk, free_disk = records * DISK_BYTES_PER_RECORD, shutil.disk_usage(work).free
        if free_disk < need_disk:
            return [_skipped(name, f"needs ~{need_disk >> 30} GiB of disk, {free_disk >> 30} free")]
        need, memory = records * CANDOR_BYTES_PER_RECORD, _available_bytes()
        if memory is not None and memory < need:
            return [_skipped(name, f"needs ~{need >> 30} GiB of memory, {memory >> 30} available")]
    task = ctx.progress.add_task(f"rating: {name} — input", total=None)
    made = synthetic_store(ctx.work, records=records, subjects=subjects, say=ctx.say)
    ctx.progress.update(task, completed=1, total=1)
    stores[records] = made
    url, secret = made.url, str(made.path.parent / "bench.secret")
    step = {"database_url": url, "secret_file": secret, "today": TODAY.isoformat()}
    out = work / f"out-{records}"
    out.mkdir(parents=True, exist_ok=True)

    first = _child(ctx, f"{_size(records)} first run", "rate_step", {**step, "mirror_dir": None})
    day = round(records * DAILY_SHARE)
    append_records(made, day, seed=records)
    daily = _child(ctx, f"{_size(records)} daily run", "rate_step", {**step, "mirror_dir": None})
    again = _child(ctx, f"{_size(records)} repeat run", "rate_step", {**step, "mirror_dir": None})
    stage = _child(
        ctx,
        f"{_size(records)} DuckDB stage and floor",
        "stage_step",
        {**step, "repeats": STAGE_REPEATS, "out": str(out)},
    )
    memory = _available_bytes()
    peer: dict[str, Any] | None = None
    if memory is None or memory > records * PEER_BYTES_PER_RECORD:
        peer = _child(
            ctx,
            f"{_size(records)} pandas peer",
            "peer_step",
            {"path": str(made.path), "today": TODAY.isoformat(), "out": str(out)},
        )
    if again["summary"]["written"]["ratings"] or again["summary"]["written"]["rating_changes"]:
        raise AssertionError(f"a repeat run with nothing new wrote {again['summary']['written']}")
    agreed = _agreement(made, out, peer is not None)
    ctx.details[f"r{records}"] = {
        "store": made.to_json(),
        "first_run": first,
        "daily_records": day,
        "daily_run": daily,
        "repeat_run": again,
        "stage": stage,
        "peer": peer,
        "agreement": agreed,
    }
    ctx.say(
        f"{name}: candor daily run {daily['seconds']:.1f} s, first run {first['seconds']:.1f} s; "
        f"DuckDB stage {min(stage['candor']):.2f} s, floor {min(stage['floor']):.2f} s"
        + (f"; pandas {peer['read'] + peer['rate']:.1f} s" if peer else "")
    )
    return _batch_rows(name, first, daily, again, stage, peer, agreed, day)


def _skipped(name: str, why: str) -> Result:
    return absolute(AREA_NAME, name, "candor end to end", None, "s", notes=f"skipped: {why}")


def _agreement(made: SyntheticStore, out: Path, with_peer: bool) -> str:
    """Check that candor, the floor, the peer and the stored ratings give every subject the
    same consent, score and grade; raise if not. Returns what was compared, in words."""
    candor = pq.read_table(out / "candor.parquet")
    compared_with = {"floor": pq.read_table(out / "floor.parquet")}
    if with_peer:
        compared_with["pandas peer"] = pq.read_table(out / "peer.parquet")
    conn = sqlite3.connect(f"file:{made.path}?mode=ro", uri=True)
    try:
        stored = conn.execute(
            "SELECT subject_id, consented, score, grade FROM ratings WHERE rulebook_id = ? "
            "ORDER BY subject_id",
            (made.rulebook_id,),
        ).fetchall()
    finally:
        conn.close()
    compared_with["stored ratings"] = pa.Table.from_pylist(
        [dict(zip(("subject_id", "consented", "score", "grade"), r, strict=True)) for r in stored]
    )
    expected = candor.to_pylist()
    for what, table in compared_with.items():
        got = _ratings_of(table).to_pylist()
        if got != expected:
            wrong = next(
                ((x, y) for x, y in zip(expected, got, strict=False) if x != y),
                f"{len(expected):,} rows against {len(got):,}",
            )
            raise AssertionError(f"{what} disagrees with candor's DuckDB stage: {wrong}")
    return f"{len(expected):,} ratings identical: candor, " + ", ".join(compared_with)


def _batch_rows(
    name: str,
    first: dict[str, Any],
    daily: dict[str, Any],
    again: dict[str, Any],
    stage: dict[str, Any],
    peer: dict[str, Any] | None,
    agreed: str,
    day: int,
) -> list[Result]:
    candor_stage, floor = min(stage["candor"]), min(stage["floor"])
    peer_seconds = peer["read"] + peer["rate"] if peer else None
    peer_note = (
        f"pandas peer: read_sql {peer['read']:.1f} s + rules {peer['rate']:.1f} s, peak RSS "
        f"{peer['peak_rss_mib']:,} MiB"
        if peer
        else "pandas peer skipped: not enough memory"
    )

    def stages(run: dict[str, Any]) -> str:
        summary = run["summary"]
        parts = ", ".join(f"{k} {v:.2f}" for k, v in summary["stages"].items())
        written = summary["written"]
        return (
            f"stages (s): {parts}; wrote {written.get('ratings', 0):,} ratings, "
            f"{written.get('rating_changes', 0):,} history lines; mirrored "
            f"{written.get('mirrored', 0):,} records; peak RSS {run['peak_rss_mib']:,} MiB"
        )

    return [
        compared(
            AREA_NAME,
            name,
            "candor DuckDB stage / hand-written DuckDB SQL (floor)",
            candor_stage,
            "s",
            baseline="one hand-written DuckDB statement on the same Arrow tables (record types "
            "dictionary-encoded or as text, whichever is faster)",
            baseline_value=floor,
            target=STAGE_TARGET,
            notes=f"best of {len(stage['candor'])}; {stage['records']:,} records read, "
            f"{stage['contributions']:,} contribution lines kept for explanations (the floor "
            f"keeps none); {agreed}",
        ),
        compared(
            AREA_NAME,
            name,
            "candor end to end, daily run / pandas peer",
            daily["seconds"],
            "s",
            baseline="pandas read_sql + the same rules",
            baseline_value=peer_seconds,
            target=END_TO_END_TARGET,
            notes=f"rate_all from the store after {day:,} new records (the mirror catches up "
            f"with them; only changed ratings are written): {stages(daily)}; {peer_note}",
        ),
        compared(
            AREA_NAME,
            name,
            "candor end to end, first run / pandas peer",
            first["seconds"],
            "s",
            baseline="pandas read_sql + the same rules",
            baseline_value=peer_seconds,
            notes="context: no mirror yet (every record read from SQLite) and no ratings "
            f"stored (every one written, with its history line): {stages(first)}",
        ),
        absolute(
            AREA_NAME,
            name,
            "candor end to end, repeat run (nothing new)",
            again["seconds"],
            "s",
            notes=f"context: {stages(again)}",
        ),
    ]


# --- re-rating one subject -----------------------------------------------------------------------


def _rerates(ctx: Context, work: Path, stores: dict[int, SyntheticStore]) -> list[Result]:
    city = stores.get(SIZES[-1][0]) or stores.get(SIZES[0][0])
    if city is None:
        return [_rerate_skipped("SQLite", "no batch-rating store was built")]
    rows = _rerate_rows(
        f"re-rate one subject in the store, SQLite ({_size(city.records)} records)",
        _rerate_in(ctx, city, city.url, "SQLite"),
    )
    small = stores.get(SIZES[0][0])
    if not ctx.pg_url or small is None:
        return [*rows, _rerate_skipped("PostgreSQL", PG_SKIPPED)]
    with scratch_schemas(ctx.pg_url, 1, prefix="bench_rating") as (schema,):
        url = schema_url(ctx.pg_url, schema)
        init_deployment(_settings(url, str(small.path.parent / "bench.secret")))
        task = ctx.progress.add_task("rating: copying the 1M store to PostgreSQL", total=None)
        copied = _copy_to_postgresql(small.path, ctx.pg_url, schema)
        ctx.progress.update(task, completed=1, total=1)
        step = {"database_url": url, "secret_file": str(small.path.parent / "bench.secret")}
        mirror = work / "pg-mirror"
        shutil.rmtree(mirror, ignore_errors=True)
        first = _child(
            ctx,
            "PostgreSQL first run",
            "rate_step",
            {**step, "today": TODAY.isoformat(), "mirror_dir": str(mirror)},
        )
        latencies = _rerate_in(ctx, small, url, "PostgreSQL")
    ctx.details["postgresql"] = {"copied_rows": copied, "first_run": first}
    benchmark = f"re-rate one subject in the store, PostgreSQL ({_size(small.records)} records)"
    return [
        *rows,
        *_rerate_rows(benchmark, latencies),
        absolute(
            AREA_NAME,
            _benchmark(small.records, small.subjects),
            "candor end to end on PostgreSQL, first run",
            first["seconds"],
            "s",
            notes="context: the same store copied into PostgreSQL, records read with ADBC "
            "into a mirror under a given directory; stages (s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in first["summary"]["stages"].items()),
        ),
    ]


def _rerate_skipped(engine: str, why: str) -> Result:
    return absolute(
        AREA_NAME, f"re-rate one subject in the store, {engine}", "p99", None, "ms", notes=why
    )


def _rerate_in(ctx: Context, made: SyntheticStore, url: str, engine: str) -> list[float]:
    persons = np.flatnonzero(_kinds(made.subjects)) + 1
    chosen = np.random.default_rng(7).choice(persons, RERATES + RERATE_WARM_UP, replace=False)
    done = _child(
        ctx,
        f"re-rate {RERATES:,} subjects, {engine}",
        "rerate_step",
        {
            "database_url": url,
            "secret_file": str(made.path.parent / "bench.secret"),
            "today": TODAY.isoformat(),
            "subjects": [int(s) for s in chosen],
            "warm_up": RERATE_WARM_UP,
        },
    )
    latencies: list[float] = done["ms"]
    ctx.say(
        f"re-rate, {engine}: p50 {np.percentile(latencies, 50):.1f} ms, "
        f"p99 {np.percentile(latencies, 99):.1f} ms"
    )
    return latencies


def _rerate_rows(benchmark: str, latencies: list[float]) -> list[Result]:
    ms = np.array(latencies)
    notes = (
        f"{len(ms):,} random persons, one after another, after {RERATE_WARM_UP} warm-up calls; "
        "each rates the subject inside the store and stores its ratings and listings in a "
        f"durable transaction; max {ms.max():.1f} ms"
    )
    return [
        absolute(AREA_NAME, benchmark, "p50", float(np.percentile(ms, 50)), "ms", notes=notes),
        absolute(
            AREA_NAME,
            benchmark,
            "p99",
            float(np.percentile(ms, 99)),
            "ms",
            target=RERATE_TARGET,
            notes=notes,
        ),
    ]


# Tables copied into PostgreSQL, parents first.
COPIED_TABLES = (
    "sources",
    "source_mandates",
    "rulebooks",
    "subjects",
    "identifiers",
    "ingestions",
    "ingest_batches",
    "records",
)


def _copy_to_postgresql(path: Path, url: str, schema: str) -> int:
    """The generated store's rows, copied into the empty candor schema ``schema``."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    copied = 0
    try:
        with psycopg.connect(libpq_url(url)) as target, target.cursor() as cur:
            for table in COPIED_TABLES:
                columns = [r[1] for r in source.execute(f"PRAGMA table_info({table})")]
                names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
                statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                    sql.Identifier(schema), sql.Identifier(table), names
                )
                rows = source.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1")
                with cur.copy(statement) as copy:
                    while chunk := rows.fetchmany(50_000):
                        for row in chunk:
                            copy.write_row(row)
                        copied += len(chunk)
                if "id" in columns:
                    cur.execute(
                        sql.SQL(
                            "SELECT setval(pg_get_serial_sequence({}, 'id'), "
                            "(SELECT coalesce(max(id), 1) FROM {}.{}))"
                        ).format(
                            sql.Literal(f"{schema}.{table}"),
                            sql.Identifier(schema),
                            sql.Identifier(table),
                        )
                    )
            cur.execute(sql.SQL("ANALYZE"))
    finally:
        source.close()
    return copied


AREA = Area(
    AREA_NAME,
    "batch rating (Rongcheng, 1M and 10M records) against a hand-written DuckDB floor and a "
    "pandas peer; single-subject re-rate latency",
    run,
)

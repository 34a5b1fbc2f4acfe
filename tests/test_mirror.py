"""The records mirror and the batch run's bulk paths, on SQLite and PostgreSQL: the mirror gives
exactly what the store gives, however it was built and whatever happened to it; a batch run
stores exactly the ratings and listings it computed, and writes only what changed."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select

from candor.domain.registry import Registry
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, rate_subject
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.setup import init_deployment
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store, export, mirror, open_store
from candor.store import ratings as stored
from candor.store.tables import listings, rating_changes, ratings
from tests.helpers import resident_id

TODAY = date(2026, 11, 23)
FINDING = {"case_no": "(2025)京0105执1号", "ground": 2}


def _record(srid: str, who: int, record_type: str, decided: str, **extra: Any) -> dict[str, Any]:
    return {
        "source_record_id": srid,
        "identifier_scheme": "cn_resident_id",
        "identifier": resident_id(who),
        "name": "张三",
        "record_type": record_type,
        "occurred_on": decided,
        "decided_on": decided,
        "legal_basis": "cited",
        "status": extra.pop("status", "final"),
        "attributes": extra.pop("attributes", {}),
        **extra,
    }


FIRST = [
    _record("c1", 1, "consent.scoring_granted", "2024-01-05"),
    _record("k1", 1, "finance.card_overdue_cycle", "2024-03-01", attributes={"months": 3}),
    _record("u1", 1, "utility.theft", "2023-06-01"),
    _record("t1", 2, "traffic.violation", "2025-02-01", attributes={"code": "1625"}),
    _record(
        "f1", 2, "commerce.fraud_finding", "2025-03-01", attributes={"kind": "other", "severity": 4}
    ),
    _record("d1", 3, "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING),
    _record("v1", 3, "civic.volunteer_service", "2025-04-01", attributes={"hours": 12.5}),
    _record(
        "r1", 2, "traffic.violation", "2025-05-01", status="under_review", attributes={"code": "x"}
    ),
]
LATER = [
    # A later version of f1 (same type, refers to it) and one of that: a chain of three.
    _record(
        "f2",
        2,
        "commerce.fraud_finding",
        "2025-06-01",
        refers_to="f1",
        attributes={"kind": "fraud", "severity": 5},
    ),
    _record(
        "f3",
        2,
        "commerce.fraud_finding",
        "2025-07-01",
        refers_to="f2",
        status="overturned",
        attributes={"kind": "fraud", "severity": 5},
    ),
    _record(
        "p1",
        3,
        "court.obligation_performed",
        "2025-09-10",
        refers_to="d1",
        attributes={"case_no": FINDING["case_no"]},
    ),
    _record("c2", 4, "consent.scoring_granted", "2026-01-05"),
]


@pytest.fixture
def source(store: Store, registry: Registry) -> Store:
    add_source(store, registry, "everyone", list(registry.record_types))
    return store


def _ingest(
    store: Store, settings: Settings, registry: Registry, rows: list[dict[str, Any]]
) -> None:
    result = ingest_objects(store, settings, registry, "everyone", rows, today=TODAY)
    assert result.summary()["rejected"] == 0, result.summary()


def _through(store: Store) -> int:
    with store.read() as conn:
        return stored.watermark(conn)


def _mirror_dir(store: Store, tmp_path: Path) -> Path | None:
    """PostgreSQL has a mirror only where a directory is given; SQLite's lives by its file."""
    return tmp_path / "mirrors" if store.dialect == "postgresql" else None


def _as_text(read: pa.Table) -> pa.Table:
    """A read's records with their record type as text (each read has its own dictionary)."""
    column = read.schema.get_field_index("record_type")
    return read.set_column(column, "record_type", read["record_type"].cast(pa.string()))


def _same(store: Store, types: list[str], as_of: date, through: int, where: Path | None) -> None:
    mirrored = export.records(store, types, as_of, through, mirror_dir=where)
    direct = export.records_from_store(store, types, as_of, through)
    assert mirrored.schema == direct.schema == mirror.READ_SCHEMA
    assert mirrored.num_rows == direct.num_rows
    assert _as_text(mirrored).sort_by("id").equals(_as_text(direct).sort_by("id"))


def test_the_mirror_gives_exactly_what_the_store_gives(
    source: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    store, where = source, _mirror_dir(source, tmp_path)
    every = sorted(registry.record_types)
    _ingest(store, settings, registry, FIRST)
    first = _through(store)
    caught = export.catch_up(store, first, mirror_dir=where)
    assert (caught.added, caught.rebuilt) == (len(FIRST), False)
    for as_of in (TODAY, date(2025, 3, 1), date(2020, 1, 1)):
        _same(store, every, as_of, first, where)
    _same(store, ["commerce.fraud_finding", "traffic.violation"], TODAY, first, where)

    _ingest(store, settings, registry, LATER)
    later = _through(store)
    # Only the new records come out of the store.
    assert export.catch_up(store, later, mirror_dir=where).added == len(LATER)
    assert export.catch_up(store, later, mirror_dir=where).added == 0
    _same(store, every, TODAY, later, where)
    _same(store, every, TODAY, first, where)  # an older watermark: the newer records left out
    chained = export.records(store, ["commerce.fraud_finding"], TODAY, later, mirror_dir=where)
    versions = sorted(
        zip(chained["id"].to_pylist(), chained["original_id"].to_pylist(), strict=True)
    )
    assert [o for _, o in versions] == [None, versions[0][0], versions[0][0]]


def test_a_mirror_caught_up_in_a_child_process_is_the_same(
    source: Store,
    settings: Settings,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if source.dialect != "sqlite":
        pytest.skip("only SQLite reads through a child process")
    monkeypatch.setattr(export, "CHILD_CATCH_UP", 0)
    _ingest(source, settings, registry, FIRST + LATER)
    through = _through(source)
    assert export.catch_up(source, through).added == len(FIRST + LATER)
    _same(source, sorted(registry.record_types), TODAY, through, None)


def test_a_replaced_store_is_noticed_and_the_mirror_rebuilt(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'candor.db'}"

    def deployment(rows: list[dict[str, Any]]) -> None:
        settings = Settings.load(environ={}, database_url=url, secret_file=tmp_path / "s.secret")
        init_deployment(settings)
        with open_store(url) as store:
            from candor.services.registry import load_registry  # noqa: PLC0415

            registry = load_registry(settings)
            add_source(store, registry, "everyone", list(registry.record_types))
            _ingest(store, settings, registry, rows)
            export.catch_up(store, _through(store))

    deployment(FIRST)
    for leftover in tmp_path.glob("candor.db*"):
        if leftover.is_file():
            leftover.unlink()
    # The same path, other records: the mirror's newest record is not the store's any more.
    deployment([_record("x1", 9, "utility.theft", "2024-01-01"), *LATER[3:]])
    with open_store(url) as store:
        through = _through(store)
        rebuilt = export.catch_up(store, through)
        assert rebuilt.rebuilt or rebuilt.added == 0
        _same(store, ["utility.theft", "consent.scoring_granted"], TODAY, through, None)


def test_a_damaged_mirror_is_rebuilt(
    source: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    where = _mirror_dir(source, tmp_path)
    _ingest(source, settings, registry, FIRST)
    through = _through(source)
    export.catch_up(source, through, mirror_dir=where)
    directory = mirror.location(source.url, where)
    assert directory is not None
    (directory / mirror.MANIFEST).write_text("{not json", encoding="utf-8")
    assert export.catch_up(source, through, mirror_dir=where).added == len(FIRST)
    for segment in directory.glob("segment-*"):
        segment.unlink()
    assert export.catch_up(source, through, mirror_dir=where).added == len(FIRST)
    _same(source, sorted(registry.record_types), TODAY, through, where)
    shutil.rmtree(directory)
    _same(source, sorted(registry.record_types), TODAY, through, where)


def _records(first: int, count: int, record_type: str = "utility.theft") -> pa.Table:
    ids = list(range(first, first + count))
    return pa.table(
        {
            "id": ids,
            "subject_id": [i % 7 + 1 for i in ids],
            "record_type": [record_type if i % 3 else "traffic.violation" for i in ids],
            "occurred_on": [date(2024, 1, 1)] * count,
            "decided_on": [date(2024, 1, 1 + i % 28) for i in ids],
            "status": ["final"] * count,
            "refers_to_id": pa.nulls(count, pa.int64()),
            "original_id": pa.nulls(count, pa.int64()),
            "attributes": ["{}"] * count,
        }
    )


def test_small_segments_are_merged_and_reads_stay_exact(tmp_path: Path) -> None:
    log = mirror.Mirror(tmp_path / "m")
    added = 0
    with log.locked():
        for day in range(60):
            added += log.append([_records(day * 10 + 1, 10)], day * 10 + 10)
    with log.locked():
        assert (added, log.watermark) == (600, 600)
        assert len(log.manifest.segments) <= 8
        assert sorted(p.name for p in (tmp_path / "m").glob("segment-*")) == sorted(
            s.file for s in log.manifest.segments
        )
        read = log.read(["utility.theft"], date(2024, 1, 10), 300)
    expected = _records(1, 600).filter(
        pa.compute.and_(
            pa.compute.equal(_records(1, 600)["record_type"], "utility.theft"),
            pa.compute.and_(
                pa.compute.less_equal(_records(1, 600)["decided_on"], date(2024, 1, 10)),
                pa.compute.less_equal(_records(1, 600)["id"], 300),
            ),
        )
    )
    assert read.schema == mirror.READ_SCHEMA
    assert _as_text(read).sort_by("id").equals(mirror.normalised(expected))


def test_a_read_past_the_watermark_is_refused(tmp_path: Path) -> None:
    log = mirror.Mirror(tmp_path / "m")
    with log.locked():
        log.append([_records(1, 5)], 5)
        with pytest.raises(ValueError, match="reaches record 5"):
            log.read(["utility.theft"], TODAY, 6)


def test_where_the_mirror_lives(tmp_path: Path) -> None:
    on_file = f"sqlite:///{tmp_path / 'candor.db'}"
    assert mirror.location(on_file) == tmp_path / "candor.db.mirror"
    assert mirror.location("sqlite://") is None
    assert mirror.location("sqlite:///:memory:", tmp_path) is None
    given = mirror.location(on_file, tmp_path / "m")
    assert given is not None
    assert given.parent == tmp_path / "m"
    assert given.name.startswith("candor.db-")
    elsewhere = f"sqlite:///{tmp_path / 'other' / 'candor.db'}"
    assert mirror.location(elsewhere, tmp_path / "m") != given  # same file name, other store
    server = "postgresql://candor:secret@db.example/candor"
    assert mirror.location(server) is None
    on_server = mirror.location(server, tmp_path)
    assert on_server is not None
    assert on_server.parent == tmp_path
    assert "secret" not in str(on_server)
    assert on_server != mirror.location("postgresql://candor@db.example/elsewhere", tmp_path)
    assert on_server == mirror.location("postgresql://candor:rotated@db.example/candor", tmp_path)


# --- the batch run's change detection and bulk writes ------------------------------------------


def _ratings(*rows: tuple[int, int, int, int | None, str | None]) -> pa.Table:
    return pa.table(
        dict(zip(export.RATING_SCHEMA.names, zip(*rows, strict=True), strict=True)),
        schema=export.RATING_SCHEMA,
    )


def test_only_new_and_changed_ratings_are_found() -> None:
    computed = _ratings(
        (1, 1, 1, 900, "B"), (1, 2, 1, 1000, "A"), (1, 3, 0, None, None), (1, 4, 1, 990, "A")
    )
    previous = _ratings((1, 1, 1, 900, "B"), (1, 2, 1, 990, "A"), (1, 3, 1, 1000, "A"))
    found = stored.batch_rating_changes(computed, previous).to_pylist()
    assert [(r["subject_id"], r["previous_score"], r["rating_changed"]) for r in found] == [
        (2, 990, True),
        (3, 1000, True),
        (4, None, True),
    ]
    assert stored.batch_rating_changes(computed, computed).num_rows == 0


def _listing(record_id: int, **values: Any) -> dict[str, Any]:
    row = {
        "subject_id": 5,
        "rulebook_id": 1,
        "list_name": "dishonest_debtors",
        "record_id": record_id,
        "criterion": 0,
        "starts_on": date(2025, 3, 1),
        "ends_on": date(2027, 3, 1),
        "removed_on": None,
        "removed_by": None,
    }
    return {**row, **values}


def test_listing_changes_are_found_as_save_listings_finds_them() -> None:
    schema = pa.schema([f for f in export.LISTING_SCHEMA if f.name not in ("id", "withdrawn_on")])
    computed = pa.Table.from_pylist(
        [
            _listing(1),
            _listing(2, removed_on=date(2025, 9, 10), removed_by=9),
            _listing(4),
            _listing(5),
        ],
        schema=schema,
    )
    stored_rows = [
        {**_listing(1), "id": 11, "withdrawn_on": None},  # unchanged
        {**_listing(2), "id": 12, "withdrawn_on": None},  # removed since
        {**_listing(3), "id": 13, "withdrawn_on": None},  # no longer computed: withdrawn
        {**_listing(4), "id": 14, "withdrawn_on": date(2025, 5, 1)},  # computed again
        {**_listing(6), "id": 16, "withdrawn_on": date(2025, 5, 1)},  # withdrawn already
    ]
    changes = stored.batch_listing_changes(
        computed, pa.Table.from_pylist(stored_rows, schema=export.LISTING_SCHEMA)
    )
    assert changes.new["record_id"].to_pylist() == [5]
    assert changes.changed["id"].to_pylist() == [12, 14]
    assert changes.withdrawn["id"].to_pylist() == [13]


@pytest.fixture
def rated(source: Store, settings: Settings, registry: Registry) -> tuple[Store, Registry]:
    """FIRST and LATER ingested, then both sample rulebooks activated (so that ingestion
    re-rated nobody: the batch run is the first to store anything)."""
    overturned = _record(
        "d2",
        3,
        "court.dishonest_debtor_finding",
        "2025-12-01",
        refers_to="d1",
        status="overturned",
        attributes=FINDING,
    )
    _ingest(source, settings, registry, [*FIRST, *LATER, overturned])
    for name in ("court-dishonest-debtors", "rongcheng-personal"):
        activate(
            source,
            registry,
            SAMPLE_RULEBOOKS / f"{name}.yaml",
            effective=date(2017, 5, 1),
            today=TODAY,
        )
    return source, registry


def _stored_ratings(store: Store) -> dict[tuple[int, int], tuple[Any, ...]]:
    with store.read() as conn:
        rows = conn.execute(select(ratings)).all()
    return {
        (r.rulebook_id, r.subject_id): (bool(r.consented), r.score, r.grade, r.as_of) for r in rows
    }


def test_a_batch_run_stores_what_it_computed_and_then_only_what_changed(
    rated: tuple[Store, Registry], tmp_path: Path
) -> None:
    store, registry = rated
    where = _mirror_dir(store, tmp_path)
    day = date(2026, 3, 1)  # u1 (2023-06-01) still counts; on 2026-06-01 its window has ended
    first = rate_all(store, registry, as_of=day, today=day, mirror_dir=where)
    saved = _stored_ratings(store)
    assert first.written["ratings"] == first.written["rating_changes"] == len(saved) > 0
    for (rulebook_id, subject_id), (consented, score, grade, as_of) in saved.items():
        _, rows = rate_subject(store, registry, subject_id, as_of=day)
        one = next(r for r in rows.ratings if r["rulebook_id"] == rulebook_id)
        assert (consented, score, grade, as_of) == (
            bool(one["consented"]),
            one["score"],
            one["grade"],
            day,
        )

    again = rate_all(store, registry, as_of=day, today=day, mirror_dir=where)
    assert again.written == {
        "mirrored": 0,
        "ratings": 0,
        "rating_changes": 0,
        "listings_added": 0,
        "listings_changed": 0,
        "listings_withdrawn": 0,
        "notices": 0,  # nothing changed: nobody is told anything again
    }

    later = date(2026, 6, 2)
    moved = rate_all(store, registry, as_of=later, today=later, mirror_dir=where)
    assert (moved.written["ratings"], moved.written["rating_changes"]) == (1, 1)
    now = _stored_ratings(store)
    changed = [key for key in now if now[key] != saved[key]]
    assert len(changed) == 1
    assert now[changed[0]][1] == saved[changed[0]][1] + 60  # utility theft no longer counts
    assert now[changed[0]][3] == later
    with store.read() as conn:
        line = conn.execute(select(rating_changes).where(rating_changes.c.as_of == later)).one()
    assert (line.score, line.previous_score) == (now[changed[0]][1], saved[changed[0]][1])


def test_a_batch_run_adds_ends_and_withdraws_listings(
    rated: tuple[Store, Registry], tmp_path: Path
) -> None:
    store, registry = rated
    where = _mirror_dir(store, tmp_path)

    def rate_on(day: date) -> dict[str, int]:
        return rate_all(store, registry, as_of=day, today=day, mirror_dir=where).written

    def listed() -> list[dict[str, Any]]:
        with store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(select(listings))]

    assert rate_on(date(2025, 6, 1))["listings_added"] == 1  # d1 found; not yet performed
    (listing,) = listed()
    assert (listing["starts_on"], listing["removed_on"], listing["withdrawn_on"]) == (
        date(2025, 3, 11),  # decided 2025-03-01, after the list's 10-day warning
        None,
        None,
    )
    assert rate_on(date(2025, 9, 10))["listings_changed"] == 1  # p1: performed
    assert listed()[0]["removed_on"] == date(2025, 9, 10)
    assert rate_on(date(2025, 9, 10))["listings_changed"] == 0
    assert rate_on(date(2025, 12, 1))["listings_withdrawn"] == 1  # d2: d1 overturned
    assert listed()[0]["withdrawn_on"] == date(2025, 12, 1)
    assert rate_on(date(2025, 12, 2))["listings_withdrawn"] == 0
    # As of a date before the overturning decision, it is listed again.
    assert rate_on(date(2025, 11, 1))["listings_changed"] == 1
    assert listed()[0]["withdrawn_on"] is None

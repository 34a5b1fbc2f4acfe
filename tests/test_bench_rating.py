"""The batch-rating benchmark compares like with like: on a small synthetic store, its floor
(one hand-written DuckDB statement) and its pandas peer give every subject exactly the consent,
score and grade candor computes and stores."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pyarrow as pa
import pytest
from bench.rating import (
    TODAY,
    SyntheticStore,
    _ratings_of,
    append_records,
    floor_ratings,
    peer_rate,
    peer_read,
    synthetic_store,
)

from candor.engine.execute import run_batch
from candor.services.rating import rate_all
from candor.services.registry import load_registry
from candor.services.rulebooks import governing, plan_for
from candor.settings import Settings
from candor.store import export, open_store
from candor.store.ratings import watermark


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> SyntheticStore:
    return synthetic_store(tmp_path_factory.mktemp("bench"), records=30_000, subjects=3_000)


def _registry(made: SyntheticStore):  # type: ignore[no-untyped-def]
    return load_registry(
        Settings.load(
            environ={}, database_url=made.url, secret_file=made.path.parent / "bench.secret"
        )
    )


def _stored(made: SyntheticStore) -> pa.Table:
    conn = sqlite3.connect(made.path)
    try:
        rows = conn.execute(
            "SELECT subject_id, consented, score, grade FROM ratings WHERE rulebook_id = ?",
            (made.rulebook_id,),
        ).fetchall()
    finally:
        conn.close()
    names = ("subject_id", "consented", "score", "grade")
    return _ratings_of(pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows]))


def _all_agree(made: SyntheticStore) -> list[dict[str, object]]:
    registry = _registry(made)
    with open_store(made.url) as store:
        rulebooks = governing(store, TODAY)
        plan = plan_for(rulebooks, registry, one_subject=False)
        types = sorted(set().union(*(a.rulebook.record_types() for a in rulebooks)))
        with store.read() as conn:
            through = watermark(conn)
        records = export.records(store, types, TODAY, through)
        subjects = export.subjects(store)
    candor = _ratings_of(run_batch(plan, records, subjects, TODAY)["ratings"]).to_pylist()
    assert _ratings_of(floor_ratings(records, subjects, TODAY)).to_pylist() == candor
    peer = peer_rate(*peer_read(made.path, TODAY), TODAY)
    assert _ratings_of(pa.Table.from_pandas(peer, preserve_index=False)).to_pylist() == candor
    assert _stored(made).to_pylist() == candor
    return candor


def test_the_floor_and_the_peer_rate_as_candor_does(made: SyntheticStore) -> None:
    registry = _registry(made)
    with open_store(made.url) as store:
        first = rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert first.written["mirrored"] == made.records
    candor = _all_agree(made)
    # The data exercise what the rules distinguish: consent, several grades, the forced C.
    assert Counter(r["consented"] for r in candor)[0] > 100
    assert {"A", "B", "C"} <= {r["grade"] for r in candor}

    append_records(made, 300, seed=1)
    with open_store(made.url) as store:
        daily = rate_all(store, registry, as_of=TODAY, today=TODAY)
        again = rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert daily.written["mirrored"] == 300
    assert 0 < daily.written["ratings"] < len(candor)
    assert (again.written["ratings"], again.written["rating_changes"]) == (0, 0)
    _all_agree(made)


def test_a_generated_store_keeps_its_foreign_keys(made: SyntheticStore) -> None:
    conn = sqlite3.connect(made.path)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        chains = conn.execute(
            "SELECT count(*) FROM records AS later JOIN records AS first "
            "ON first.id = later.refers_to_id WHERE later.record_type <> first.record_type "
            "OR later.subject_id <> first.subject_id OR later.decided_on < first.decided_on"
        ).fetchone()
    finally:
        conn.close()
    assert chains == (0,)


def test_a_cached_store_is_reused_as_generated(made: SyntheticStore) -> None:
    root = made.path.parent.parent.parent
    again = synthetic_store(root, records=made.records, subjects=made.subjects)
    assert again.path == made.path
    conn = sqlite3.connect(made.path)
    try:
        assert conn.execute("SELECT count(*) FROM ratings").fetchone() == (0,)
        assert conn.execute("SELECT max(id) FROM records").fetchone() == (made.max_record_id,)
    finally:
        conn.close()
    assert not list(made.path.parent.glob("*.mirror"))


def test_the_module_has_its_area() -> None:
    from bench.__main__ import AREAS  # noqa: PLC0415

    assert AREAS["rating"].run.__module__ == "bench.rating"

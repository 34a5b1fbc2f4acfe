"""A new batch against known subjects: only new-to-known and new-to-new pairs are scored, new
records join the right known subject or make new ones, and known subjects never move or merge."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

from candor.errors import InvalidInput
from candor.linkage import (
    Kind,
    Thresholds,
    assign,
    predict_incoming,
    train,
)
from candor.linkage.incremental import assign_pairs
from candor.synth.linkage import person_records

THRESHOLD = 0.9


def _pairs(*rows: tuple[str, str, float]) -> pa.Table:
    left, right, probability = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {
            "record_id_l": pa.array(left, pa.string()),
            "record_id_r": pa.array(right, pa.string()),
            "match_probability": pa.array(probability, pa.float64()),
        }
    )


def test_a_new_record_joins_the_subject_its_group_reaches() -> None:
    # n1 — n2 — k1 (subject A): both join A, n1 through n2; n3 alone pairs below the threshold.
    pairs = _pairs(("n1", "n2", 0.99), ("n2", "k1", 0.95), ("n3", "k2", 0.5))
    done = assign_pairs(pairs, ["n1", "n2", "n3"], {"k1": "A", "k2": "B"}, THRESHOLD)
    assert done.to_subject == {"n1": "A", "n2": "A"}
    assert list(done.to_new_subject) == ["n3"]
    assert done.conflicts == {}


def test_new_records_together_make_one_new_subject() -> None:
    done = assign_pairs(_pairs(("n1", "n2", 0.97)), ["n1", "n2", "n3"], {}, THRESHOLD)
    assert done.to_subject == {}
    assert done.to_new_subject["n1"] == done.to_new_subject["n2"] != done.to_new_subject["n3"]


def test_a_group_that_reaches_two_subjects_merges_nothing() -> None:
    # n1 looks like A's record and n2 like B's, and n1 and n2 like each other: a person decides.
    pairs = _pairs(("n1", "k1", 0.99), ("n2", "k2", 0.99), ("n1", "n2", 0.95))
    done = assign_pairs(pairs, ["n1", "n2"], {"k1": "A", "k2": "B"}, THRESHOLD)
    assert done.to_subject == {} and done.to_new_subject == {}
    assert done.conflicts == {"n1": ("A", "B"), "n2": ("A", "B")}


def test_a_pair_naming_a_record_neither_new_nor_known_is_refused() -> None:
    with pytest.raises(InvalidInput, match="neither new nor known"):
        assign_pairs(_pairs(("n1", "x9", 0.99)), ["n1"], {"k1": "A"}, THRESHOLD)


@pytest.mark.slow
def test_a_second_batch_links_to_the_known_subjects_without_moving_them() -> None:
    made = person_records(2_000, seed=5).table.with_columns(pl.col("record_id").cast(pl.String))
    second = pl.col("record_id").cast(pl.Int64) % 3 == 0
    known, incoming = made.filter(~second), made.filter(second)

    def fields(frame: pl.DataFrame) -> pa.Table:
        return frame.drop("person", "corruptions").to_arrow()

    model = train(fields(known), Kind.PERSON, u_sample_pairs=2e5)
    # The truth's person numbers stand in for candor's subject ids of the known records.
    known_subject = dict(
        zip(known["record_id"].to_list(), map(str, known["person"].to_list()), strict=True)
    )
    predictions = predict_incoming(model, fields(incoming), fields(known))
    new_ids = set(incoming["record_id"].to_list())
    left = predictions.table.column("record_id_l").to_pylist()
    right = predictions.table.column("record_id_r").to_pylist()
    assert left, "no pair scored"
    assert all(a in new_ids or b in new_ids for a, b in zip(left, right, strict=True))

    done = assign(predictions, known_subject, Thresholds().link)
    truth = dict(zip(incoming["record_id"].to_list(), incoming["person"].to_list(), strict=True))
    known_persons = set(known["person"].to_list())
    joined = done.to_subject
    assert set(joined) | set(done.to_new_subject) | set(done.conflicts) == new_ids
    assert all(joined[r] == str(truth[r]) for r in joined)  # no wrong link
    belong = [r for r in new_ids if truth[r] in known_persons]
    assert len(joined) / len(belong) >= 0.98
    # New subjects are persons candor did not know, one group per person.
    fresh = [r for r in done.to_new_subject if truth[r] not in known_persons]
    assert len(fresh) / len(done.to_new_subject) >= 0.98
    with pytest.raises(InvalidInput, match="in both"):
        predict_incoming(model, fields(incoming), fields(made))

"""candor's person linkage end to end on FEBRL1 (1,000 records, 500 true pairs): trained without
labels, it finds the pairs; without the evidence that matters, it does not."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from bench.linkage import cluster_pairs, febrl, person_rows, scores

from candor.linkage import (
    Kind,
    LinkageModel,
    Predictions,
    Thresholds,
    clusters,
    link,
    predict,
    prepare_sources,
    train,
)

pytestmark = pytest.mark.slow
THRESHOLD = Thresholds().link
# Small enough for the test's time, and FEBRL1 has only 500,000 pairs in all.
U_PAIRS = 2e5


@pytest.fixture(scope="module")
def rows_and_truth() -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    frames, true = febrl(1)
    return person_rows(frames[0]), true


@pytest.fixture(scope="module")
def trained(
    rows_and_truth: tuple[list[dict[str, Any]], set[tuple[str, str]]],
) -> tuple[LinkageModel, Predictions]:
    prepared = prepare_sources(rows_and_truth[0], Kind.PERSON)
    model = train(prepared, Kind.PERSON, u_sample_pairs=U_PAIRS)
    return model, predict(model, prepared)


def _quality(predictions: Predictions, true: set[tuple[str, str]]) -> dict[str, float]:
    return scores(cluster_pairs(clusters(link(predictions, THRESHOLD))), true)


def test_febrl1_pairs_are_found_with_high_precision_and_recall(
    rows_and_truth: tuple[list[dict[str, Any]], set[tuple[str, str]]],
    trained: tuple[LinkageModel, Predictions],
) -> None:
    found = _quality(trained[1], rows_and_truth[1])
    assert found["precision"] >= 0.99
    assert found["recall"] >= 0.97


def test_without_names_and_addresses_the_same_pipeline_does_worse(
    rows_and_truth: tuple[list[dict[str, Any]], set[tuple[str, str]]],
    trained: tuple[LinkageModel, Predictions],
) -> None:
    """The assertions above can fail: take away the evidence a true pair agrees on (the name and
    the address) and the pipeline falls below them."""
    rows, true = rows_and_truth
    blind = [{**r, "name": None, "address": None} for r in rows]
    model = train(blind, Kind.PERSON, u_sample_pairs=U_PAIRS)
    worse = _quality(predict(model, blind), true)
    full = _quality(trained[1], true)
    assert worse["f1"] < full["f1"]
    assert worse["recall"] < 0.97 or worse["precision"] < 0.99


def test_a_model_trained_twice_with_one_seed_is_the_same_model(
    rows_and_truth: tuple[list[dict[str, Any]], set[tuple[str, str]]],
    trained: tuple[LinkageModel, Predictions],
) -> None:
    again = train(rows_and_truth[0], Kind.PERSON, u_sample_pairs=U_PAIRS)
    assert again.training_data_hash == trained[0].training_data_hash
    assert again.splink_model["comparisons"] == trained[0].splink_model["comparisons"]


def test_the_model_file_gives_identical_predictions(
    rows_and_truth: tuple[list[dict[str, Any]], set[tuple[str, str]]],
    trained: tuple[LinkageModel, Predictions],
    tmp_path: Any,
) -> None:
    model, predictions = trained
    path = tmp_path / "person-model.json"
    model.save(path)
    loaded = LinkageModel.load(path)
    assert loaded == model
    assert loaded.identifier == model.identifier
    assert loaded.identifier.startswith("person-")
    again = predict(loaded, pa.Table.from_pylist(rows_and_truth[0]))
    columns = ["record_id_l", "record_id_r", "match_weight", "match_probability"]
    ordered = [("record_id_l", "ascending"), ("record_id_r", "ascending")]
    assert (
        again.table.select(columns)
        .sort_by(ordered)
        .equals(predictions.table.select(columns).sort_by(ordered))
    )
    # No record value is in the file: only settings and m/u probabilities.
    text = path.read_text(encoding="utf-8")
    assert not any(r["identifier"] in text for r in rows_and_truth[0][:50])


def test_a_changed_model_file_is_refused(trained: tuple[LinkageModel, Predictions]) -> None:
    from candor.errors import InvalidInput  # noqa: PLC0415

    doc = trained[0].to_json()
    doc["splink_model"]["probability_two_random_records_match"] = 0.5
    with pytest.raises(InvalidInput, match="changed after training"):
        LinkageModel.from_json(doc)


def test_each_pair_is_explained_by_its_waterfall(
    trained: tuple[LinkageModel, Predictions],
) -> None:
    predictions = trained[1]
    pairs = list(predictions.pairs(min_probability=THRESHOLD))
    assert pairs, "no pair above the automatic-link threshold"
    names = [c.comparison for c in pairs[0].contributions]
    assert names == ["prior", "name", "birth_date", "region_code", "address", "identifier"]
    for pair in pairs:
        # The bars add up to the pair's weight: the explanation is the score, not a story.
        total = sum(c.match_weight for c in pair.contributions)
        assert total == pytest.approx(pair.match_weight, abs=1e-6)
        assert pair.match_probability >= THRESHOLD
    strongest = max(pairs[0].contributions[1:], key=lambda c: c.match_weight)
    assert strongest.bayes_factor > 1
    assert strongest.left and strongest.right  # the values compared are shown

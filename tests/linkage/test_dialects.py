"""A model trained on DuckDB, rendered for Spark: candor's comparisons in Spark's SQL (no DuckDB
function left in them), carrying exactly what training learned."""

from __future__ import annotations

import copy

import polars as pl

from candor.linkage import Kind, train
from candor.linkage.dialects import for_dialect
from candor.synth.linkage import person_records


def test_a_duckdb_model_moves_to_spark_with_its_learned_weights() -> None:
    records = person_records(300, seed=4).table.with_columns(pl.col("record_id").cast(pl.String))
    model = train(records.drop("person", "corruptions").to_arrow(), Kind.PERSON, u_sample_pairs=5e4)
    before = copy.deepcopy(model.splink_model)
    assert for_dialect(model, "duckdb") == model.splink_model

    spark = for_dialect(model, "spark")
    stored = model.splink_model
    assert (
        spark["probability_two_random_records_match"]
        == stored["probability_two_random_records_match"]
    )
    assert (
        spark["blocking_rules_to_generate_predictions"]
        == stored["blocking_rules_to_generate_predictions"]
    )
    conditions = [
        level["sql_condition"] for c in spark["comparisons"] for level in c["comparison_levels"]
    ]
    duckdb_only = ("hamming(", "list_has_any(")
    assert not any(f in c for c in conditions for f in duckdb_only)
    assert any("arrays_overlap(" in c for c in conditions)
    assert any(
        f in level["sql_condition"]
        for c in stored["comparisons"]
        for level in c["comparison_levels"]
        for f in duckdb_only
    )
    for moved, trained in zip(spark["comparisons"], stored["comparisons"], strict=True):
        assert moved["output_column_name"] == trained["output_column_name"]
        for ours, theirs in zip(
            moved["comparison_levels"], trained["comparison_levels"], strict=True
        ):
            assert ours.get("m_probability") == theirs.get("m_probability")
            assert ours.get("u_probability") == theirs.get("u_probability")
            assert ours["label_for_charts"] == theirs["label_for_charts"]
    assert model.splink_model == before  # the model itself is unchanged

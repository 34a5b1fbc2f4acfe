"""Scoring candidate pairs with a trained model, and explaining each score.

A prediction keeps, per pair, the level each comparison reached and its Bayes factor (Splink's
``gamma_*`` and ``bf_*`` columns) and the values compared, so that a reviewer can be shown the
same waterfall Splink draws: the prior, then each comparison's partial match weight, adding up
to the pair's match weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from splink import SettingsCreator
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.waterfall_chart import records_to_waterfall_data

from candor.linkage import backend
from candor.linkage.dialects import for_backend
from candor.linkage.model import LinkageModel
from candor.linkage.sources import Records, checked, prepare_sources


@dataclass(frozen=True)
class Contribution:
    """One bar of the waterfall: what one comparison added to a pair's match weight."""

    comparison: str  # "name", "birth_date", … or "prior"
    level: str  # the level reached, in words: "same romanised name (…)"
    bayes_factor: float  # m / u of that level: how many times likelier a match it makes
    match_weight: float  # log2 of the Bayes factor: the bar's length
    left: str  # the values compared, as Splink shows them ("" for the prior)
    right: str


@dataclass(frozen=True)
class Pair:
    """A candidate pair, scored: ``match_weight`` is the sum of its contributions' weights."""

    left_id: str
    right_id: str
    match_weight: float
    match_probability: float
    contributions: tuple[Contribution, ...]


@dataclass(frozen=True)
class Predictions:
    """Every candidate pair of a run, scored by ``model``, as a table (one row a pair)."""

    model: LinkageModel
    table: pa.Table  # record_id_l, record_id_r, match_weight, match_probability, gamma_*, bf_* …
    record_ids: tuple[str, ...]  # every record of the run, paired or not

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def pairs(self, min_probability: float = 0.0) -> Iterator[Pair]:
        """The pairs at or above ``min_probability``, each with its explanation."""
        settings = SettingsCreator.from_path_or_dict(dict(self.model.splink_model)).get_settings(
            "duckdb"
        )
        rows = [r for r in self.table.to_pylist() if r["match_probability"] >= min_probability]
        bars = records_to_waterfall_data(rows, settings, hide_details=False)  # type: ignore[no-untyped-call]
        by_row: dict[int, list[dict[str, Any]]] = {}
        for bar in bars:
            by_row.setdefault(bar["record_number"], []).append(bar)
        for i, row in enumerate(rows):
            yield Pair(
                left_id=row["record_id_l"],
                right_id=row["record_id_r"],
                match_weight=row["match_weight"],
                match_probability=row["match_probability"],
                contributions=tuple(_contribution(b) for b in by_row.get(i, [])[:-1]),
            )


def _contribution(bar: dict[str, Any]) -> Contribution:
    # The last bar Splink draws is the final score, left out: it is the pair's own weight.
    name = bar["column_name"]
    bayes_factor = float(bar["bayes_factor"])
    return Contribution(
        comparison="prior" if name == "Prior" else name,
        level=str(bar["label_for_charts"]),
        bayes_factor=bayes_factor,
        match_weight=math.log2(bayes_factor) if bayes_factor > 0 else -math.inf,
        left=str(bar["value_l"]),
        right=str(bar["value_r"]),
    )


def predict(
    model: LinkageModel,
    records: Records,
    *,
    min_probability: float | None = None,
    api: DatabaseAPISubClass | None = None,
) -> Predictions:
    """Every pair the model's blocking rules find among ``records`` (in the model's link type),
    scored; only those at or above ``min_probability`` when given."""
    tables = checked(prepare_sources(records, model.kind), model.link_type)
    db = api or backend.default_api()
    linker = backend.linker(db, tables, for_backend(model, db))
    scored = linker.inference.predict(
        threshold_match_probability=min_probability, warning_mode="never"
    )
    table = backend.to_arrow(scored)
    ids = tuple(i for t in tables for i in t.column("record_id").to_pylist())
    return Predictions(model=model, table=table, record_ids=ids)

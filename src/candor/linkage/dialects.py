"""A trained model on another backend than the one it was trained on.

Splink keeps a model's comparisons as SQL of the dialect it was trained in, and translates it
with SQLGlot when the model is loaded elsewhere — which carries plain SQL across but not the
functions one engine lacks (DuckDB's ``hamming``, ``list_has_any``: Spark has neither). The
comparisons are candor's own code, rendered for any dialect (``levels``), so a model moves by
rendering them afresh for the target and carrying over only what training learned: the prior,
and each level's m and u, level by level (the same code makes the same levels in the same order).
Blocking rules are plain equalities and substrings, which Splink's own translation carries.
"""

from __future__ import annotations

import copy
from typing import Any

from splink.internals.database_api import DatabaseAPISubClass

from candor.linkage.comparisons import settings
from candor.linkage.model import LinkageModel

_LEARNED = ("m_probability", "u_probability")


def for_backend(model: LinkageModel, api: DatabaseAPISubClass) -> dict[str, Any]:
    """``model``'s Splink settings as ``api``'s backend runs them."""
    return for_dialect(model, api.sql_dialect.sql_dialect_str)


def for_dialect(model: LinkageModel, dialect: str) -> dict[str, Any]:
    """``model``'s Splink settings in ``dialect`` (Splink's name: duckdb, spark, …)."""
    stored = model.splink_model
    if stored.get("sql_dialect", "duckdb") == dialect:
        return copy.deepcopy(stored)
    fresh = settings(model.kind, model.link_type).create_settings_dict(dialect)
    ours, theirs = fresh["comparisons"], stored["comparisons"]

    def shape(comparisons: list[dict[str, Any]]) -> list[tuple[str, int]]:
        return [(c["output_column_name"], len(c["comparison_levels"])) for c in comparisons]

    if shape(ours) != shape(theirs):
        raise ValueError(
            f"model {model.identifier} was trained with other comparisons than this candor "
            "makes: retrain it"
        )
    moved = {**copy.deepcopy(stored), "comparisons": copy.deepcopy(ours)}
    for comparison, trained in zip(moved["comparisons"], theirs, strict=True):
        for level, learned in zip(
            comparison["comparison_levels"], trained["comparison_levels"], strict=True
        ):
            for key in _LEARNED:
                if key in learned:
                    level[key] = learned[key]
    return moved

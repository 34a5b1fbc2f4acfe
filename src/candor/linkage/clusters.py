"""From scored pairs to subjects: records joined by pairs above a threshold are one cluster
(connected components, Splink's clustering)."""

from __future__ import annotations

import pyarrow as pa
from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.database_api import DatabaseAPISubClass

from candor.linkage import backend
from candor.linkage.prediction import Predictions


def link(
    predictions: Predictions,
    threshold: float,
    *,
    api: DatabaseAPISubClass | None = None,
) -> dict[str, str]:
    """Each record's cluster at ``threshold`` (a match probability): record id → cluster id.
    A record paired with nothing above the threshold is a cluster of its own."""
    nodes = pa.table({"record_id": pa.array(predictions.record_ids, pa.string())})
    edges = predictions.table.select(["record_id_l", "record_id_r", "match_probability"])
    clustered = backend.to_arrow(
        cluster_pairwise_predictions_at_threshold(
            nodes,
            edges,
            api or backend.default_api(),
            node_id_column_name="record_id",
            threshold_match_probability=threshold,
        )
    )
    return dict(
        zip(
            clustered.column("record_id").to_pylist(),
            clustered.column("cluster_id").to_pylist(),
            strict=True,
        )
    )


def clusters(assignment: dict[str, str]) -> list[list[str]]:
    """The clusters of an assignment, each a sorted list of record ids, largest first."""
    groups: dict[str, list[str]] = {}
    for record_id, cluster_id in assignment.items():
        groups.setdefault(cluster_id, []).append(record_id)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))

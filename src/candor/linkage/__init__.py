"""Identity resolution: which records are about the same subject, when no trustworthy
identifier says so. Probabilistic linkage with Splink (Fellegi–Sunter, trained without labels).

    prepare ─> train ─> LinkageModel (JSON, identified by its hash)
                           │
    records ──────────> predict ─> Predictions (pairs: weight, probability, waterfall)
                                      │                    │
                                    link (clusters)      decide (link / review / new subject)

    new batch + known records ─> predict_incoming ─> assign (known subject / new / conflict)

Engine level: no store, no services. The services layer decides what a link means for a
subject's file (issue 7: an unreviewed probabilistic link never causes a listing).
"""

from __future__ import annotations

from candor.linkage.clusters import clusters, link
from candor.linkage.comparisons import LinkType, blocking_rules, comparisons, settings
from candor.linkage.decision import Outcome, Thresholds, decide
from candor.linkage.incremental import Assignment, assign, predict_incoming
from candor.linkage.model import LinkageModel
from candor.linkage.prediction import Contribution, Pair, Predictions, predict
from candor.linkage.records import FIELDS, Kind, prepare
from candor.linkage.sources import Prepared, Records, prepare_sources
from candor.linkage.training import train

__all__ = [
    "FIELDS",
    "Assignment",
    "Contribution",
    "Kind",
    "LinkType",
    "LinkageModel",
    "Outcome",
    "Pair",
    "Predictions",
    "Prepared",
    "Records",
    "Thresholds",
    "assign",
    "blocking_rules",
    "clusters",
    "comparisons",
    "decide",
    "link",
    "predict",
    "predict_incoming",
    "prepare",
    "prepare_sources",
    "settings",
    "train",
]

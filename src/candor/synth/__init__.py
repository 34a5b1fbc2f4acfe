"""The synthetic jurisdiction: a seeded population and its sources' record files.

``generate`` draws a city of persons and organisations with valid identifiers, lets courts,
regulators, banks, utilities, the traffic police, the volunteer registry and the credit office
make five years of records about them, damages a share of the identifiers on the way, and
writes each source's file in the CONTRACT format with the ground truth beside it.
"""

from __future__ import annotations

from candor.synth.jurisdiction import Jurisdiction, SourceFile, generate

__all__ = ["Jurisdiction", "SourceFile", "generate"]

"""Two comparison levels Splink's library lacks in a form cheap enough to run on every pair of
a random sample, each written for DuckDB and Spark and refusing any other backend by name.

Splink's Damerau-Levenshtein level costs DuckDB about 1.2 s per million pairs of 7-character
identifiers, and the u estimate runs it on millions of random pairs; codes and identifiers have
a fixed length, so counting differing positions (Hamming distance) says the same for typos and
transpositions (2) at about a fortieth of the cost. Likewise ``list_has_any`` answers "a name
part in common" without building the intersection list (about half the cost).
"""

from __future__ import annotations

from splink.internals.comparison_level_creator import ComparisonLevelCreator
from splink.internals.dialects import SplinkDialect

# The backends candor's linkage runs on; every level here writes SQL for each of them.
BACKENDS = ("duckdb", "spark")


class UnsupportedBackend(ValueError):
    """A backend candor's linkage does not run on (a deliberate refusal, not a gap: the levels
    would need SQL of their own there, and tests to hold it to DuckDB's answers)."""


def _unsupported(level: str, dialect: SplinkDialect) -> UnsupportedBackend:
    return UnsupportedBackend(
        f"{level}: candor's linkage runs on {' and '.join(BACKENDS)}, not on "
        f"{dialect.sql_dialect_str}"
    )


class PositionsDifferLevel(ComparisonLevelCreator):
    """Both values of one length, differing in at most ``most`` positions."""

    def __init__(self, column: str, most: int, label: str) -> None:
        self.column, self.most, self.label = column, most, label

    def create_sql(self, sql_dialect: SplinkDialect) -> str:
        left, right = f"{self.column}_l", f"{self.column}_r"
        same_length = f"length({left}) = length({right})"
        match sql_dialect.sql_dialect_str:
            case "duckdb":
                return f"{same_length} AND hamming({left}, {right}) <= {self.most}"
            case "spark":  # no hamming: count the positions that differ
                differing = (
                    f"size(filter(sequence(1, length({left})), "
                    f"i -> substr({left}, i, 1) != substr({right}, i, 1)))"
                )
                return f"{same_length} AND {differing} <= {self.most}"
        raise _unsupported("PositionsDifferLevel", sql_dialect)

    def create_label_for_charts(self) -> str:
        return self.label


class SharesAnyLevel(ComparisonLevelCreator):
    """Two lists with at least one element in common."""

    def __init__(self, column: str, label: str) -> None:
        self.column, self.label = column, label

    def create_sql(self, sql_dialect: SplinkDialect) -> str:
        left, right = f"{self.column}_l", f"{self.column}_r"
        match sql_dialect.sql_dialect_str:
            case "duckdb":
                return f"list_has_any({left}, {right})"
            case "spark":
                return f"arrays_overlap({left}, {right})"
        raise _unsupported("SharesAnyLevel", sql_dialect)

    def create_label_for_charts(self) -> str:
        return self.label

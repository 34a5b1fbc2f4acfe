"""The Splink model of each kind of subject, built in code: comparisons, blocking rules, and the
rules EM trains on.

Every comparison reads the columns ``records.prepare`` made, so the SQL Splink writes is plain
column arithmetic that SQLGlot carries to each backend (DuckDB here; Spark later). Levels go from
the strongest agreement to the weakest; the first that holds is the pair's level, and EM learns
how much each level is worth (its m and u), so the order is the only judgement written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from candor.linkage.levels import PositionsDifferLevel, SharesAnyLevel
from candor.linkage.records import Kind

LinkType = Literal["dedupe_only", "link_only", "link_and_dedupe"]
UNIQUE_ID = "record_id"
# The date every prepared birth_date is written in (normalise.birth_date).


def _name(prefix: str, description: str, *, in_full: bool) -> ComparisonCreator:
    """A name in two forms: its characters, and its romanised (pinyin) form; ``in_full`` (a
    person's own name) adds how close the romanised forms are and whether a part is shared."""
    levels: list[Any] = [
        cll.NullLevel(f"{prefix}_key"),
        cll.ExactMatchLevel(f"{prefix}_characters").configure(label_for_charts="same characters"),
        cll.ExactMatchLevel(f"{prefix}_key").configure(
            label_for_charts="same romanised name (script, spacing or order differ)"
        ),
    ]
    if in_full:
        levels += [
            cll.JaroWinklerLevel("name_romanised", 0.92),
            cll.JaroWinklerLevel("name_romanised", 0.85),
            SharesAnyLevel("name_tokens", "a part of the name in common"),
            cll.JaroWinklerLevel("name_romanised", 0.7),
        ]
    else:
        levels += [cll.JaroWinklerLevel(f"{prefix}_key", 0.9)]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(
        levels, output_column_name=prefix, comparison_description=description
    )


def _birth_date() -> ComparisonCreator:
    # Splink's date-of-birth levels, with "one digit wrong" as differing positions of the ISO
    # form rather than Levenshtein distance (the same for dates, a tenth of the cost).
    def within(threshold: int, metric: str) -> Any:
        return cll.AbsoluteDateDifferenceLevel(
            "birth_date",
            threshold=threshold,
            metric=metric,  # type: ignore[arg-type]
            # ISO dates (``records.prepare``): each dialect's default format reads them.
            input_is_string=True,
        ).configure(label_for_charts=f"within {threshold} {metric}")

    return cl.CustomComparison(
        [
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            PositionsDifferLevel("birth_date", 1, "one digit wrong"),
            PositionsDifferLevel("birth_date", 2, "two digits wrong or transposed"),
            within(1, "month"),
            within(1, "year"),
            within(10, "year"),
            cll.ElseLevel(),
        ],
        output_column_name="birth_date",
        comparison_description="date of birth",
    )


def _region_code() -> ComparisonCreator:
    return cl.CustomComparison(
        [
            cll.NullLevel("region_code"),
            cll.ExactMatchLevel("region_code"),
            PositionsDifferLevel("region_code", 1, "one character wrong"),
            cll.ElseLevel(),
        ],
        output_column_name="region_code",
        comparison_description="region code",
    )


def _address() -> ComparisonCreator:
    return cl.JaroWinklerAtThresholds("address", [0.94, 0.85, 0.7])


def _identifier() -> ComparisonCreator:
    # A damaged identifier: one character wrong, two (or two transposed), or only its last
    # characters legible (a masked or partial identifier).
    return cl.CustomComparison(
        [
            cll.NullLevel("identifier"),
            cll.ExactMatchLevel("identifier"),
            PositionsDifferLevel("identifier", 1, "one character wrong"),
            PositionsDifferLevel("identifier", 2, "two characters wrong or transposed"),
            cll.ExactMatchLevel("identifier_tail").configure(
                label_for_charts="same last four characters"
            ),
            cll.ElseLevel(),
        ],
        output_column_name="identifier",
        comparison_description="identifier (possibly damaged or partial)",
    )


def comparisons(kind: Kind) -> list[ComparisonCreator]:
    """The comparisons of one kind of subject, in the order explanations list them."""
    if kind is Kind.PERSON:
        return [
            _name("name", "name (characters and pinyin)", in_full=True),
            _birth_date(),
            _region_code(),
            _address(),
            _identifier(),
        ]
    return [
        _name("name", "name without its legal form", in_full=False),
        _region_code(),
        _name("representative", "legal representative", in_full=False),
        _address(),
        _identifier(),
    ]


# Blocking keys: the SQL expressions whose equality puts a pair in a block (``block_on``).
BlockKey = tuple[str, ...]

# Persons: every key but the identifier's and the address's pairs two fields, so that no block
# grows with the population. One field alone does not scale: in ``synth.linkage``'s million
# records the name key alone makes 171M pairs and the first letters of a name within a region
# 3.8 billion; these keys together make about 10M and find 98.8% of the true pairs directly —
# most of the rest through a third record of the same person.
_PERSON_KEYS: tuple[BlockKey, ...] = (
    ("identifier",),
    ("name_key", "birth_date"),
    ("name_key", "substr(birth_date, 1, 4)"),  # a day or month mistyped
    ("identifier_tail", "birth_date"),
    ("identifier_tail", "name_key"),  # a masked identifier
    ("identifier_birth", "name_key"),  # no birth date, a damaged identifier
    ("substr(name_romanised, 1, 3)", "birth_date"),  # a name read otherwise
    ("birth_date", "region_code"),
    ("address", "name_key"),
    ("address",),
)
# Broad keys: in a small population they find the pairs that differ on nearly everything (a name
# and an identifier both mistyped: FEBRL's heavier corruption); in a large one they would score
# tens of millions of pairs. Training keeps each only while its pairs stay within
# ``BROAD_PAIRS_PER_RECORD`` per record (``broad_keys_within``), and the model says which.
_PERSON_BROAD: tuple[BlockKey, ...] = (
    ("name_key",),
    ("birth_date",),
    ("substr(name_romanised, 1, 3)", "region_code"),
    ("identifier_tail", "region_code"),
)
_ORGANISATION_KEYS: tuple[BlockKey, ...] = (
    ("identifier",),
    ("name_characters",),
    ("representative_key", "region_code"),
    ("address",),
)
BROAD_PAIRS_PER_RECORD = 10


def blocking_keys(kind: Kind) -> tuple[tuple[BlockKey, ...], tuple[BlockKey, ...]]:
    """The keys always blocked on, and the broad ones kept only while their blocks are small."""
    if kind is Kind.PERSON:
        return _PERSON_KEYS, _PERSON_BROAD
    return _ORGANISATION_KEYS, ()


def blocking_rules(kind: Kind, broad: Sequence[BlockKey] = ()) -> list[BlockingRuleCreator]:
    """Which pairs are compared at all: a pair found by any rule is scored. ``broad``: those of
    the kind's broad keys to block on as well."""
    keys, allowed = blocking_keys(kind)
    unknown = [k for k in broad if k not in allowed]
    if unknown:
        raise ValueError(f"not a broad blocking key of {kind.value} records: {unknown}")
    return [block_on(*key) for key in (*keys, *broad)]


def training_rules(kind: Kind) -> list[BlockingRuleCreator]:
    """The blocking rules EM trains on, one session each: each holds some comparisons fixed
    and estimates the others, so that together every comparison is estimated."""
    if kind is Kind.PERSON:
        # Two fields each for the first, as for prediction: a name key alone is 171M pairs in
        # a million records; this is 1.2M, and the identifier's session estimates the name
        # and the birth date that it holds fixed.
        return [block_on("name_key", "birth_date"), block_on("identifier")]
    return [block_on("name_characters"), block_on("identifier")]


def deterministic_rules(kind: Kind) -> list[BlockingRuleCreator]:
    """Pairs that are almost surely the same subject: how the prior (the probability that two
    records drawn at random match) is estimated, without labels."""
    if kind is Kind.PERSON:
        return [
            block_on("identifier", "birth_date"),
            block_on("name_key", "birth_date"),
            block_on("identifier", "name_key"),
        ]
    return [
        block_on("identifier", "name_characters"),
        block_on("name_characters", "region_code"),
    ]


def settings(
    kind: Kind, link_type: LinkType = "dedupe_only", broad: Sequence[BlockKey] = ()
) -> SettingsCreator:
    """An untrained Splink model of ``kind``, blocking on ``broad`` keys as well."""
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name=UNIQUE_ID,
        comparisons=[*comparisons(kind)],
        blocking_rules_to_generate_predictions=[*blocking_rules(kind, broad)],
        # Kept in every prediction: the level and Bayes factor of each comparison, and the
        # values compared, so that a link can be explained to a reviewer.
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
    )

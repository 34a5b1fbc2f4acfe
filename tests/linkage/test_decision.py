"""The three outcomes of linkage by two thresholds."""

from __future__ import annotations

import pytest

from candor.errors import InvalidInput
from candor.linkage import Outcome, Thresholds, decide

THRESHOLDS = Thresholds(link=0.99, review=0.6)


@pytest.mark.parametrize(
    ("probability", "outcome"),
    [
        (1.0, Outcome.LINK),
        (0.99, Outcome.LINK),  # at the threshold: linked
        (0.989, Outcome.REVIEW),
        (0.6, Outcome.REVIEW),
        (0.599, Outcome.NEW_SUBJECT),
        (0.0, Outcome.NEW_SUBJECT),
        (None, Outcome.NEW_SUBJECT),  # no candidate at all
    ],
)
def test_two_thresholds_make_three_outcomes(probability: float | None, outcome: Outcome) -> None:
    assert decide(probability, THRESHOLDS) is outcome


def test_equal_thresholds_leave_nothing_to_review() -> None:
    strict = Thresholds(link=0.9, review=0.9)
    assert {decide(p / 100, strict) for p in range(101)} == {Outcome.LINK, Outcome.NEW_SUBJECT}


@pytest.mark.parametrize(("link", "review"), [(0.5, 0.9), (1.2, 0.5), (0.9, -0.1)])
def test_thresholds_out_of_order_or_range_are_refused(link: float, review: float) -> None:
    with pytest.raises(InvalidInput, match="review ≤ link"):
        Thresholds(link=link, review=review)

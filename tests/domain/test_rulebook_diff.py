"""Moves, tallies and disparity: what counts as adversely or favourably moved."""

from __future__ import annotations

import pytest

from candor.domain.rulebook import Band, Grades, Measure
from candor.domain.rulebook_diff import (
    NO_GRADE,
    NOT_SCORED,
    Comparison,
    Standing,
    Tally,
    disparity,
    grade_label,
    grade_order,
    measures_applying,
    move,
    rule_changes,
)

ABC = Grades(bands=(Band(grade="A", min=900), Band(grade="B", min=600), Band(grade="C")))
# A new version that adds a band above A: A keeps its name but is now second best.
SABC = Grades(
    bands=(Band(grade="S", min=1000), Band(grade="A", min=900), Band(grade="B"), Band(grade="C"))
)


def test_grades_are_compared_by_rank_in_the_new_bands_else_the_old_else_their_own() -> None:
    assert move(Standing("A"), Standing("B"), ABC, ABC).grade_change == 1
    assert move(Standing("C"), Standing("A"), ABC, ABC).grade_change == -2
    # A band added above A: whoever stays at A has not moved, whoever reaches S moved up.
    assert move(Standing("A"), Standing("A"), ABC, SABC).grade_change == 0
    assert move(Standing("A"), Standing("S"), ABC, SABC).grade_change == -1
    # S dropped again: both grades are only among the old version's bands.
    assert move(Standing("S"), Standing("A"), SABC, ABC).grade_change == 1
    # A band renamed (C to D): each grade ranks in its own version's bands.
    abd = Grades(bands=(Band(grade="A", min=900), Band(grade="B", min=600), Band(grade="D")))
    assert move(Standing("C"), Standing("D"), ABC, abd).grade_change == 0
    assert move(Standing("B"), Standing("D"), ABC, abd).grade_change == 1


@pytest.mark.parametrize(
    ("old", "new"), [(NOT_SCORED, "C"), ("A", NOT_SCORED), (NOT_SCORED, NOT_SCORED)]
)
def test_becoming_scored_or_unscored_is_no_grade_move(old: str, new: str) -> None:
    moved = move(Standing(old), Standing(new), ABC, ABC)
    assert moved.grade_change == 0 and not moved.adverse and not moved.favourable


def test_a_listing_or_measure_gained_is_adverse_and_one_lost_favourable() -> None:
    debtors = frozenset({"debtors"})
    listed = move(Standing("A"), Standing("A", debtors), ABC, ABC)
    assert listed.adverse and not listed.favourable and listed.listed == debtors
    both = move(Standing("A", debtors), Standing("B"), ABC, ABC)
    assert both.adverse and both.favourable  # a worse grade, and off the list
    lifted = move(Standing("A", debtors, frozenset({"no_air"})), Standing("A", debtors), ABC, ABC)
    assert lifted.favourable and lifted.lifted == {"no_air"} and not lifted.adverse


def test_measures_apply_through_any_list_that_imposes_them() -> None:
    measures = {
        "no_air": Measure(title="No flights", domain="transport", imposed_by=("a", "b")),
        "no_rail": Measure(title="No trains", domain="transport", imposed_by=("b",)),
    }
    assert measures_applying(measures, frozenset({"a"})) == {"no_air"}
    assert measures_applying(measures, frozenset({"b"})) == {"no_air", "no_rail"}
    assert measures_applying(measures, frozenset()) == frozenset()


def test_tallies_count_subjects_once_however_they_moved() -> None:
    comparison = Comparison()
    worse_and_listed = move(Standing("A"), Standing("C", frozenset({"x", "y"})), ABC, ABC)
    unchanged = move(Standing("B"), Standing("B"), ABC, ABC)
    comparison.add("person", "370000", worse_and_listed, 3)
    comparison.add("person", "110000", unchanged, 7)
    comparison.add("organisation", None, unchanged)

    assert comparison.overall.to_json() == {
        "subjects": 11,
        "grade_worse": 3,
        "grade_better": 0,
        "newly_listed": 3,
        "delisted": 0,
        "newly_under_measure": 0,
        "measure_lifted": 0,
        "adversely_moved": 3,
        "favourably_moved": 0,
    }
    assert comparison.transitions == {("A", "C"): 3, ("B", "B"): 8}
    assert comparison.listed == {"x": 3, "y": 3}
    assert comparison.by_kind["person"].subjects == 10
    assert comparison.by_region[None].subjects == 1


def test_disparity_is_a_group_share_against_everyones() -> None:
    overall = Tally(subjects=100, adversely_moved=10)
    assert disparity(Tally(subjects=20, adversely_moved=4), overall).to_json() == {
        "adverse_share": 0.2,
        "overall_adverse_share": 0.1,
        "disparity_ratio": pytest.approx(2.0),
    }
    assert disparity(Tally(subjects=20), overall).ratio == 0.0
    nobody = disparity(Tally(subjects=20), Tally(subjects=100))
    assert (nobody.share, nobody.overall_share, nobody.ratio) == (0.0, 0.0, None)
    assert disparity(Tally(), Tally()).to_json() == {
        "adverse_share": None,
        "overall_adverse_share": None,
        "disparity_ratio": None,
    }


def test_labels_and_the_order_of_the_matrix() -> None:
    assert grade_label(False, None) == NOT_SCORED
    assert grade_label(True, None) == NO_GRADE
    assert grade_label(True, "B") == "B"
    assert grade_order(ABC, SABC, {"B", NO_GRADE, NOT_SCORED}) == [
        "A",
        "B",
        "C",
        "S",
        NO_GRADE,
        NOT_SCORED,
    ]
    assert grade_order(None, None, {NOT_SCORED}) == [NOT_SCORED]


def test_rules_of_one_side_only_are_shown_with_none_on_the_other() -> None:
    changes = rule_changes(
        ["kept", "dropped", "silent"],
        ["kept", "added", "silent"],
        {"kept": (-50, 5), "dropped": (-30, 3)},
        {"kept": (-100, 5), "added": (-10, 1)},
    )
    assert [(c.rule, c.old_points, c.new_points, c.change) for c in changes] == [
        ("kept", -50, -100, -50),
        ("dropped", -30, None, 30),
        ("added", None, -10, -10),
        ("silent", 0, 0, 0),
    ]

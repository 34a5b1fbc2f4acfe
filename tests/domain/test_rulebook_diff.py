"""Moves, tallies and disparity: what counts as adversely or favourably moved."""

from __future__ import annotations

import pytest

from candor.domain.rulebook import Band, Grades, parse_rulebook
from candor.domain.rulebook_diff import (
    NO_GRADE,
    NOT_SCORED,
    Comparison,
    Standing,
    Tally,
    disparity,
    grade_label,
    grade_order,
    move,
    reward_lists,
    rule_changes,
    standing,
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


# A court's list whose measures restrict, a red list whose measure rewards, and a reward that
# grade A earns.
BOOK = parse_rulebook(
    """
rulebook: t
version: "1"
title: T
domain: civic
score: {base: 1000}
grades: {bands: [{grade: A, min: 960}, {grade: B, min: 850}, {grade: C}]}
lists:
  debtors: {title: Debtors, entry: [{record_type: court.dishonest_debtor_finding}]}
  red: {title: Trustworthy, entry: [{record_type: civic.heroic_act}]}
  watch: {title: Watched, entry: [{record_type: traffic.drunk_driving}]}
measures:
  no_air: {title: No flights, domain: transport, imposed_by: [debtors]}
  no_rail: {title: No trains, domain: transport, imposed_by: [debtors, watch]}
  fast_lane: {title: Fast lane, domain: civic, kind: reward, imposed_by: [red]}
  free_bikes: {title: Free bikes, domain: civic, kind: reward, grades: [A]}
""",
    origin="test",
)


def test_measures_apply_through_any_list_that_imposes_them_or_a_grade_that_earns_them() -> None:
    assert standing(BOOK, "B", frozenset({"watch"})).measures == {"no_rail"}
    assert standing(BOOK, "B", frozenset({"debtors"})).measures == {"no_air", "no_rail"}
    earned = standing(BOOK, "A", frozenset({"red"}))
    assert earned.measures == earned.rewards == {"fast_lane", "free_bikes"}
    assert earned.reward_lists == {"red"}
    assert standing(BOOK, NOT_SCORED, frozenset()).measures == frozenset()
    # A list without measures is a penalty to be on; a list is a reward list only when every
    # measure it brings is a reward.
    assert reward_lists(BOOK) == {"red"}


def test_penalties_gained_and_rewards_lost_are_adverse_and_the_reverse_favourable() -> None:
    def moved(old: Standing, new: Standing) -> tuple[bool, bool]:
        m = move(old, new, BOOK.grades, BOOK.grades)
        return m.adverse, m.favourable

    plain, debtor = standing(BOOK, "B", frozenset()), standing(BOOK, "B", frozenset({"debtors"}))
    assert moved(plain, debtor) == (True, False)
    assert moved(debtor, plain) == (False, True)
    red = standing(BOOK, "B", frozenset({"red"}))
    assert moved(plain, red) == (False, True)  # onto the red list, a reward gained
    assert moved(red, plain) == (True, False)
    best = standing(BOOK, "A", frozenset())
    assert moved(best, plain) == (True, False)  # a grade lost, and the reward it earned
    assert moved(plain, best) == (False, True)
    assert moved(debtor, standing(BOOK, "C", frozenset())) == (True, True)  # worse, but off
    m = move(plain, debtor, BOOK.grades, BOOK.grades)
    assert (m.listed, m.imposed, m.delisted, m.lifted) == (
        {"debtors"},
        {"no_air", "no_rail"},
        frozenset(),
        frozenset(),
    )


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

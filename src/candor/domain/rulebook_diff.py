"""Whom a rulebook change moves: one subject's standing under two versions of a rulebook, and
the tallies, grade transitions and disparity figures of many.

Definitions (docs/rulebooks.md, "Seeing whom a change moves"):
- a subject's *standing* under a version: its grade (or ``not scored``: no consent on record,
  or a kind the version does not rate), the lists it is listed on in force, and the measures
  that apply to it (those imposed by any of those lists, and rewards its grade earns);
- a *reward list* is one whose measures are all rewards (a red list); every other list, and
  every measure that is not a reward, is a penalty;
- *adversely moved*: a worse grade under the new version (ranked by ``Grades.rank`` in the new
  version's bands where both grades are among them, else the old's, else each in its own
  version's), or newly listed on a penalty list, or a penalty newly applying, or a reward list
  or reward lost;
- *favourably moved*: a better grade, or delisted from a penalty list, or a penalty no longer
  applying, or a reward list or reward gained. A subject can be both (a worse grade and a list
  left, say); each is counted once;
- a region's *disparity*: the share of its subjects adversely moved, against the share of all
  subjects, and the ratio of the two (1: the change falls on the region as on everyone).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from candor.domain.rulebook import Grades, MeasureKind, Rulebook

NOT_SCORED = "not scored"
# A version that scores without grade bands: a scored subject has no grade to compare.
NO_GRADE = "no grade"


def grade_label(scored: bool, grade: str | None) -> str:
    """A subject's grade as the transition matrix shows it."""
    if not scored:
        return NOT_SCORED
    return grade if grade is not None else NO_GRADE


@dataclass(frozen=True)
class Standing:
    """What one rulebook version says of one subject on the date."""

    grade: str  # a grade, NOT_SCORED or NO_GRADE
    lists: frozenset[str] = frozenset()
    measures: frozenset[str] = frozenset()
    reward_lists: frozenset[str] = frozenset()  # those of ``lists`` that are reward lists
    rewards: frozenset[str] = frozenset()  # those of ``measures`` that are rewards


def reward_lists(rulebook: Rulebook) -> frozenset[str]:
    """The lists on which a listing is a benefit: each brings measures, all of them rewards."""
    out = set()
    for name in rulebook.lists:
        brought = [m for m in rulebook.measures.values() if name in m.imposed_by]
        if brought and all(m.kind is MeasureKind.REWARD for m in brought):
            out.add(name)
    return frozenset(out)


def standing(rulebook: Rulebook, grade: str, lists: frozenset[str]) -> Standing:
    """A subject's standing under ``rulebook``, graded ``grade`` and listed in force on
    ``lists``: a measure applies through any list in its ``imposed_by``, or a grade in its
    ``grades`` (a reward that grade earns)."""
    measures = frozenset(
        name
        for name, m in rulebook.measures.items()
        if lists.intersection(m.imposed_by) or grade in m.grades
    )
    rewards = frozenset(n for n in measures if rulebook.measures[n].kind is MeasureKind.REWARD)
    return Standing(grade, lists, measures, lists & reward_lists(rulebook), rewards)


def _has(grades: Grades | None, *names: str) -> bool:
    return grades is not None and all(n in {b.grade for b in grades.bands} for n in names)


def _ranks(old: str, new: str, old_grades: Grades | None, new_grades: Grades | None) -> int:
    """How many ranks ``new`` lies below ``old`` (negative: above; 0: not comparable).

    Both grades are ranked in one version's bands where they can be — the new version's, else
    the old's — so that a band added above A does not count everyone left at A as moved down;
    a grade found only in the other version ranks in its own.
    """
    for grades in (new_grades, old_grades):
        if grades is not None and _has(grades, old, new):
            return grades.rank(new) - grades.rank(old)
    if old_grades is not None and new_grades is not None and _has(old_grades, old):
        return new_grades.rank(new) - old_grades.rank(old) if _has(new_grades, new) else 0
    return 0


@dataclass(frozen=True)
class Move:
    """How a subject's standing changes from the old version to the new."""

    old: Standing
    new: Standing
    # > 0: a worse grade under the new version (ranks down); < 0: a better one; 0: the same
    # rank, or not graded under both (a subject scored under one version only has no grade
    # move).
    grade_change: int

    @property
    def listed(self) -> frozenset[str]:
        return self.new.lists - self.old.lists

    @property
    def delisted(self) -> frozenset[str]:
        return self.old.lists - self.new.lists

    @property
    def imposed(self) -> frozenset[str]:
        return self.new.measures - self.old.measures

    @property
    def lifted(self) -> frozenset[str]:
        return self.old.measures - self.new.measures

    @property
    def adverse(self) -> bool:
        old, new = self.old, self.new
        return (
            self.grade_change > 0
            or bool(self.listed - new.reward_lists)  # onto a penalty list
            or bool(self.delisted & old.reward_lists)  # off a reward list
            or bool(self.imposed - new.rewards)  # a penalty
            or bool(self.lifted & old.rewards)  # a reward lost
        )

    @property
    def favourable(self) -> bool:
        old, new = self.old, self.new
        return (
            self.grade_change < 0
            or bool(self.delisted - old.reward_lists)
            or bool(self.listed & new.reward_lists)
            or bool(self.lifted - old.rewards)
            or bool(self.imposed & new.rewards)
        )


def move(
    old: Standing, new: Standing, old_grades: Grades | None, new_grades: Grades | None
) -> Move:
    """The move from ``old`` (under bands ``old_grades``) to ``new`` (under ``new_grades``)."""
    return Move(old, new, _ranks(old.grade, new.grade, old_grades, new_grades))


@dataclass
class Tally:
    """Subjects of a group (everyone, a kind, a region) and how many of them moved, how."""

    subjects: int = 0
    grade_worse: int = 0
    grade_better: int = 0
    newly_listed: int = 0  # on at least one list
    delisted: int = 0  # from at least one list
    newly_under_measure: int = 0  # at least one measure newly applies
    measure_lifted: int = 0  # at least one measure no longer applies
    adversely_moved: int = 0
    favourably_moved: int = 0

    def add(self, m: Move, n: int = 1) -> None:
        """Count ``n`` subjects that moved as ``m``."""
        self.subjects += n
        self.grade_worse += n * (m.grade_change > 0)
        self.grade_better += n * (m.grade_change < 0)
        self.newly_listed += n * bool(m.listed)
        self.delisted += n * bool(m.delisted)
        self.newly_under_measure += n * bool(m.imposed)
        self.measure_lifted += n * bool(m.lifted)
        self.adversely_moved += n * m.adverse
        self.favourably_moved += n * m.favourable

    def merge(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Disparity:
    """A group's share of subjects adversely moved against everyone's."""

    share: float | None  # None: the group has no subjects
    overall_share: float | None  # None: there are no subjects at all
    ratio: float | None  # share / overall_share; None when either is None or overall is 0

    def to_json(self) -> dict[str, float | None]:
        return {
            "adverse_share": self.share,
            "overall_adverse_share": self.overall_share,
            "disparity_ratio": self.ratio,
        }


def disparity(group: Tally, overall: Tally) -> Disparity:
    share = group.adversely_moved / group.subjects if group.subjects else None
    everyone = overall.adversely_moved / overall.subjects if overall.subjects else None
    ratio = share / everyone if share is not None and everyone else None
    return Disparity(share, everyone, ratio)


@dataclass
class Comparison:
    """Many subjects' moves, counted: overall, per kind, per region, per grade pair, per list
    and per measure."""

    overall: Tally = field(default_factory=Tally)
    by_kind: dict[str, Tally] = field(default_factory=dict)
    by_region: dict[str | None, Tally] = field(default_factory=dict)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    listed: Counter[str] = field(default_factory=Counter)
    delisted: Counter[str] = field(default_factory=Counter)
    in_force: dict[str, Counter[str]] = field(
        default_factory=lambda: {"old": Counter(), "new": Counter()}
    )
    imposed: Counter[str] = field(default_factory=Counter)
    lifted: Counter[str] = field(default_factory=Counter)
    applying: dict[str, Counter[str]] = field(
        default_factory=lambda: {"old": Counter(), "new": Counter()}
    )

    def add(self, kind: str, region: str | None, m: Move, n: int = 1) -> None:
        """Count ``n`` subjects of ``kind`` from ``region`` that moved as ``m``."""
        self.overall.add(m, n)
        self.by_kind.setdefault(kind, Tally()).add(m, n)
        self.by_region.setdefault(region, Tally()).add(m, n)
        self.transitions[m.old.grade, m.new.grade] += n
        for name in m.listed:
            self.listed[name] += n
        for name in m.delisted:
            self.delisted[name] += n
        for name in m.imposed:
            self.imposed[name] += n
        for name in m.lifted:
            self.lifted[name] += n
        for side, standing in (("old", m.old), ("new", m.new)):
            for name in standing.lists:
                self.in_force[side][name] += n
            for name in standing.measures:
                self.applying[side][name] += n


def grade_order(old: Grades | None, new: Grades | None, seen: Iterable[str]) -> list[str]:
    """Grades as the matrix lists them: the old version's bands best first, then the new
    version's other bands, then any other label seen (``no grade``), ``not scored`` last."""
    order: list[str] = []
    for grades in (old, new):
        for band in grades.bands if grades is not None else ():
            if band.grade not in order:
                order.append(band.grade)
    order += sorted(set(seen) - {*order, NOT_SCORED})
    return [*order, NOT_SCORED]


@dataclass(frozen=True)
class RuleChange:
    """The points a rule gives in all (over scored subjects) under each version."""

    rule: str
    old_points: int | None  # None: the rule is not in the old version
    new_points: int | None
    old_subjects: int  # subjects with at least one line of the rule
    new_subjects: int

    @property
    def change(self) -> int:
        return (self.new_points or 0) - (self.old_points or 0)

    def to_json(self) -> dict[str, int | str | None]:
        return {
            "rule": self.rule,
            "old_points": self.old_points,
            "new_points": self.new_points,
            "change": self.change,
            "old_subjects": self.old_subjects,
            "new_subjects": self.new_subjects,
        }


def rule_changes(
    old_rules: Iterable[str],
    new_rules: Iterable[str],
    old: Mapping[str, tuple[int, int]],
    new: Mapping[str, tuple[int, int]],
) -> list[RuleChange]:
    """Every rule of either version, with its (points, subjects) under each (a rule that gave
    no points counts 0), the largest change first, then by rule id.

    Args:
        old_rules, new_rules: the rule ids of each version.
        old, new: (points, subjects) per rule id, where the rule gave any.
    """
    in_old, in_new = set(old_rules), set(new_rules)
    changes = [
        RuleChange(
            rule,
            old.get(rule, (0, 0))[0] if rule in in_old else None,
            new.get(rule, (0, 0))[0] if rule in in_new else None,
            old.get(rule, (0, 0))[1],
            new.get(rule, (0, 0))[1],
        )
        for rule in in_old | in_new
    ]
    return sorted(changes, key=lambda c: (-abs(c.change), c.rule))

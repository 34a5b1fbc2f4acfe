"""Rulebook lint: the rule-of-law checks a rulebook must pass before it may take effect.

A rule that would be unlawful, disproportionate or secret must never take effect. These checks
read a parsed rulebook against the record-type registry; ``candor rulebook lint`` runs them with
the engine's checks of every condition (``services.rulebook_lint``), and ``activate`` refuses a
rulebook with any error. Each finding names the path inside the file and why it matters; the
reasons are the ones docs/rulebooks.md gives.

Errors (the rulebook cannot take effect):

- ``legal-basis``: a rule, list, grade override or measure that cites no legal basis — a
  consequence nobody can look up is a secret rule;
- ``no-maximum-term`` / ``no-way-off``: a list without a maximum term, or without any way off it
  (no removal trigger, no repair, no term) — nobody is listed for ever;
- ``measure-target``: a measure aimed at anyone but the listed subject (relatives, a legal
  representative, associates) — collective punishment;
- ``cross-domain``: a measure in another domain than the rulebook that imposes it, without a
  legal basis that authorises that tie (``cross_domain_basis``) — the joint-punishment case;
- ``grade-penalty``: a measure other than a reward tied to grades — a low score is never by
  itself grounds for a penalty (Rongcheng's own rule); rewards may be tied to grades;
- ``not-final``: a penalty that counts records which are not final decisions (records under
  review, investigations) without a documented ``exception``;
- ``unknown-reference``, ``prohibited-data``, ``personal-data``, ``condition``, ``invalid``: what
  the engine's and the schema's checks refuse (found in ``services.rulebook_lint``).

Warnings (shown, not blocking): ``disproportionate`` points beyond a cap; ``no-advance-warning``
on a list; ``grade-bands`` with gaps or overlaps; and ``overlapping-rules`` that may count one
record twice (``engine.overlap``, called from ``services.rulebook_lint``: it parses conditions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from candor.domain.registry import Registry
from candor.domain.rulebook import FINAL, MeasureKind, Rule, Rulebook

# Points one rule may add or deduct for one record before lint warns (``--points-cap``): the
# largest single deduction in the published Rongcheng table is 100.
POINTS_CAP = 100


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One thing lint found: where (the path inside the file), what (a stable code) and why."""

    path: str
    code: str
    severity: Severity
    why: str
    file: str = ""

    def line(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.severity.value}: {self.path}: {self.why} [{self.code}]"

    def to_json(self) -> dict[str, str]:
        return {
            "file": self.file,
            "path": self.path,
            "code": self.code,
            "severity": self.severity.value,
            "why": self.why,
        }


def _error(path: str, code: str, why: str) -> Finding:
    return Finding(path, code, Severity.ERROR, why)


def _warning(path: str, code: str, why: str) -> Finding:
    return Finding(path, code, Severity.WARNING, why)


def lint(rulebook: Rulebook, registry: Registry, *, points_cap: int = POINTS_CAP) -> list[Finding]:
    """The rule-of-law findings about ``rulebook`` that need no condition parsed, in path order
    (file left blank). ``engine.overlap`` finds overlapping rules, which needs them parsed."""
    found = [
        *_legal_bases(rulebook),
        *_ways_off(rulebook),
        *_measures(rulebook),
        *_counted_statuses(rulebook, registry),
        *_proportionality(rulebook, points_cap),
        *_warnings_first(rulebook),
        *_bands(rulebook),
    ]
    return sorted(found)


# --- errors --------------------------------------------------------------------------------------

_NO_BASIS = (
    "cites no legal basis: a consequence nobody can look up in a published law is a secret rule"
)


def _legal_bases(rulebook: Rulebook) -> Iterator[Finding]:
    for i, rule in enumerate(rulebook.rules):
        if rule.legal_basis is None:
            yield _error(f"rules.{i}.legal_basis", "legal-basis", f"rule {rule.id} {_NO_BASIS}")
    for i, override in enumerate(rulebook.overrides):
        if override.legal_basis is None:
            yield _error(
                f"overrides.{i}.legal_basis",
                "legal-basis",
                f"grade override {override.id} {_NO_BASIS}",
            )
    for name, spec in rulebook.lists.items():
        if spec.legal_basis is None:
            yield _error(f"lists.{name}.legal_basis", "legal-basis", f"list {name} {_NO_BASIS}")
    for name, measure in rulebook.measures.items():
        if measure.legal_basis is None:
            yield _error(
                f"measures.{name}.legal_basis", "legal-basis", f"measure {name} {_NO_BASIS}"
            )


def _ways_off(rulebook: Rulebook) -> Iterator[Finding]:
    for name, spec in rulebook.lists.items():
        unbounded = [i for i, c in enumerate(spec.entry) if (c.term or spec.term) is None]
        if not unbounded:
            continue
        if not spec.removal and spec.repair is None and len(unbounded) == len(spec.entry):
            yield _error(
                f"lists.{name}",
                "no-way-off",
                f"list {name} has no way off it: no term, no removal trigger and no repair; "
                "nobody may be listed for ever",
            )
        elif len(unbounded) == len(spec.entry):
            yield _error(
                f"lists.{name}.term",
                "no-maximum-term",
                f"list {name} has no maximum term: a listing must end even when no removal "
                "record ever comes",
            )
        else:
            for i in unbounded:
                yield _error(
                    f"lists.{name}.entry.{i}.term",
                    "no-maximum-term",
                    f"entry {i} of list {name} has no term and the list none to give it: a "
                    "listing must end even when no removal record ever comes",
                )


def _measures(rulebook: Rulebook) -> Iterator[Finding]:
    for name, measure in rulebook.measures.items():
        path = f"measures.{name}"
        if measure.applies_to != "subject":
            yield _error(
                f"{path}.applies_to",
                "measure-target",
                f"measure {name} applies to {measure.applies_to!r}: a measure restricts the "
                "listed subject only, never a relative, a representative or an associate",
            )
        if measure.grades and measure.kind is not MeasureKind.REWARD:
            yield _error(
                f"{path}.grades",
                "grade-penalty",
                f"measure {name} is a {measure.kind.value} triggered by grade alone: a low score "
                "is never by itself grounds for a penalty; only a reward (kind: reward) may be "
                "tied to grades",
            )
        if measure.domain != rulebook.domain and not measure.cross_domain_basis:
            by = "a list" if measure.imposed_by else "a grade"
            yield _error(
                f"{path}.cross_domain_basis",
                "cross-domain",
                f"measure {name} is in domain {measure.domain!r}, brought by {by} of the "
                f"{rulebook.domain!r} rulebook: a consequence in another domain needs a legal "
                "basis that authorises that tie (joint punishment is not a default)",
            )


def _counted_statuses(rulebook: Rulebook, registry: Registry) -> Iterator[Finding]:
    """Records that are not final decisions counted towards a penalty: a rule that deducts, an
    override (it lowers a grade) or a list's entry."""
    penalties: list[tuple[str, str, tuple[str, ...], str | None]] = []
    for i, rule in enumerate(rulebook.rules):
        if _deducts(rule):
            penalties.append((f"rules.{i}", rule.record_type, rule.statuses, rule.exception))
    for i, override in enumerate(rulebook.overrides):
        penalties.append(
            (f"overrides.{i}", override.record_type, override.statuses, override.exception)
        )
    for name, spec in rulebook.lists.items():
        for i, c in enumerate(spec.entry):
            penalties.append((f"lists.{name}.entry.{i}", c.record_type, c.statuses, c.exception))
    for path, record_type, statuses, exception in penalties:
        if exception:
            continue
        not_final = [s for s in statuses if s != FINAL]
        if not_final:
            yield _error(
                f"{path}.statuses",
                "not-final",
                f"counts records with status {', '.join(not_final)} towards a penalty: only "
                "final decisions may count, unless a documented exception says why",
            )
        kind = registry.get(record_type)
        if kind is not None and not kind.decision:
            yield _error(
                f"{path}.record_type",
                "not-final",
                f"{record_type} is not a decision ({kind.description.rstrip('.')}): it may not "
                "count towards a penalty unless a documented exception says why",
            )


def _deducts(rule: Rule) -> bool:
    if rule.points is not None:
        return rule.points < 0
    assert rule.points_from is not None
    bound = rule.points_from
    return bound.factor < 0 or (bound.minimum is not None and bound.minimum < 0)


# --- warnings ------------------------------------------------------------------------------------


def _proportionality(rulebook: Rulebook, cap: int) -> Iterator[Finding]:
    for i, rule in enumerate(rulebook.rules):
        most = _most_points(rule)
        if most is not None and most > cap:
            yield _warning(
                f"rules.{i}",
                "disproportionate",
                f"rule {rule.id} can move a score by {most} points for one record, beyond the "
                f"proportionality cap of {cap}",
            )


def _most_points(rule: Rule) -> int | None:
    """The most points (either sign) one record can bring; None when unbounded by the rule."""
    if rule.points is not None and rule.per is None:
        most = abs(rule.points)
    elif rule.points_from is not None and None not in (
        rule.points_from.minimum,
        rule.points_from.maximum,
    ):
        most = max(abs(rule.points_from.minimum or 0), abs(rule.points_from.maximum or 0))
    else:
        most = None  # per unit, or from an attribute without bounds: only a cap bounds it
    if rule.cap is not None:
        most = rule.cap if most is None else min(most, rule.cap)
    return most


def _warnings_first(rulebook: Rulebook) -> Iterator[Finding]:
    for name, spec in rulebook.lists.items():
        if spec.advance_warning is None:
            yield _warning(
                f"lists.{name}.advance_warning",
                "no-advance-warning",
                f"list {name} gives no advance warning: warnings before punishments — the "
                "subject should hear of a listing before it takes effect",
            )


def _bands(rulebook: Rulebook) -> Iterator[Finding]:
    grades = rulebook.grades
    if grades is None:
        return
    bands = grades.bands
    for n, (better, worse) in enumerate(pairwise(bands)):
        path = f"grades.bands.{n + 1}"
        if better.min is None:
            yield _warning(
                f"grades.bands.{n}",
                "grade-bands",
                f"grade {better.grade} has no lower bound, so no score reaches {worse.grade}",
            )
            continue
        if worse.max is None:
            yield _warning(
                path,
                "grade-bands",
                f"grade {worse.grade} has no upper bound and overlaps {better.grade}",
            )
        elif worse.max >= better.min:
            yield _warning(
                path,
                "grade-bands",
                f"grades {better.grade} (from {better.min}) and {worse.grade} (to {worse.max}) "
                "overlap",
            )
        elif worse.max + 1 < better.min:
            yield _warning(
                path,
                "grade-bands",
                f"scores {worse.max + 1} to {better.min - 1} fall between grades "
                f"{worse.grade} and {better.grade}",
            )

"""``candor rulebook lint``: every finding about a rulebook file, before it may take effect.

The schema's checks, the engine's checks of every reference and condition, the rule-of-law checks
(``domain.rulebook_lint``) and the overlap warnings (``engine.overlap``), as one list of findings,
each naming the file, the path inside it and why. ``activate`` runs the same and refuses a
rulebook with any error.
"""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

from candor.domain.registry import Registry, parse_registry, prohibited_reason
from candor.domain.rulebook import Rulebook, parse_rulebook
from candor.domain.rulebook_lint import POINTS_CAP, Finding, Severity, lint
from candor.engine.compiler import check_rulebook
from candor.engine.conditions import ConditionError, parse_condition
from candor.engine.overlap import disjoint
from candor.errors import InvalidInput, RegistryError, RulebookError

# How the engine names an attribute a record type does not declare, in a reference or a condition.
_UNKNOWN_ATTRIBUTE = re.compile(
    r"has no attribute '(\w+)'|names '(\w+)', which is not an attribute"
)


def lint_file(
    path: Path, registry: Registry, *, points_cap: int = POINTS_CAP
) -> tuple[Rulebook | None, list[Finding]]:
    """The rulebook in ``path`` (None when it does not parse) and every finding about it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read the rulebook {path}: {e}") from None
    return lint_text(text, str(path), registry, points_cap=points_cap)


def lint_text(
    text: str, origin: str, registry: Registry, *, points_cap: int = POINTS_CAP
) -> tuple[Rulebook | None, list[Finding]]:
    try:
        rulebook = parse_rulebook(text, origin=origin)
    except RulebookError as e:
        return None, [_named(origin, f) for f in _problems(e, "invalid")]
    found = [_checked(problem) for problem in check_rulebook(rulebook, registry)]
    found += lint(rulebook, registry, points_cap=points_cap)
    found += _overlaps(rulebook, registry)
    return rulebook, sorted(_named(origin, f) for f in found)


def lint_registry(path: Path) -> tuple[Registry | None, list[Finding]]:
    """The record-type registry in ``path`` (None when it does not load) and its problems as
    findings: its format cannot declare the data candor never processes, and such a try is
    named."""
    try:
        return parse_registry(path.read_text(encoding="utf-8"), origin=str(path)), []
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read the registry {path}: {e}") from None
    except RegistryError as e:
        return None, [_named(str(path), f) for f in _problems(e, "invalid")]


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def _named(origin: str, finding: Finding) -> Finding:
    return Finding(finding.path, finding.code, finding.severity, finding.why, origin)


def _problems(error: InvalidInput, code: str) -> list[Finding]:
    """An error's problems (``path: why``) as findings; a prohibited category or attribute as
    ``prohibited-data``."""
    problems = error.extra.get("problems") or [error.detail]
    found = []
    for problem in problems:
        path, _, why = str(problem).partition(": ")
        if not why:
            path, why = "(top)", str(problem)
        kind = "prohibited-data" if " is not allowed: candor never" in why else code
        found.append(Finding(path, kind, Severity.ERROR, why))
    return found


def _checked(problem: str) -> Finding:
    """One of the engine's problems (``path: why``) as a finding."""
    path, _, why = problem.partition(": ")
    unknown = _UNKNOWN_ATTRIBUTE.search(why)
    if unknown and (reason := prohibited_reason(unknown.group(1) or unknown.group(2))):
        return Finding(path, "prohibited-data", Severity.ERROR, f"{why}; {reason}")
    if ", a personal attribute of " in why:
        return Finding(path, "personal-data", Severity.ERROR, why)
    if path.endswith(".condition"):
        return Finding(path, "condition", Severity.ERROR, why)
    return Finding(path, "unknown-reference", Severity.ERROR, why)


def _overlaps(rulebook: Rulebook, registry: Registry) -> list[Finding]:
    """Rules on one record type whose conditions do not plainly exclude each other."""
    found = []
    for (i, a), (j, b) in combinations(enumerate(rulebook.rules), 2):
        spec = registry.get(a.record_type)
        if a.record_type != b.record_type or spec is None:
            continue
        try:
            trees = [
                None if c is None else parse_condition(c, a.record_type, spec)
                for c in (a.condition, b.condition)
            ]
        except ConditionError:
            continue  # found as a condition error already
        if not disjoint(*trees):
            found.append(
                Finding(
                    f"rules.{j}",
                    "overlapping-rules",
                    Severity.WARNING,
                    f"rules {a.id} (rules.{i}) and {b.id} both count {a.record_type} records and "
                    "their conditions do not exclude each other: one record may count twice",
                )
            )
    return found

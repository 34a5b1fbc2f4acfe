"""The rulebook: a published, versioned file that says how subjects are rated and listed.

A rulebook is YAML validated by these models (``candor rulebook schema`` prints their JSON
Schema). It can say:

- ``score``: a base score and bounds; ``rules`` add or deduct points for records of a type that
  meet a condition, per occurrence or per unit (``per``), capped, for a ``window`` or fading
  with a ``half_life``, each citing its legal basis;
- ``grades``: bands of score, best first, and ``overrides``: a record type that forces a grade
  (the worst forced or banded grade wins);
- ``consent``: no score without the subject's consent record (records are still kept);
- ``lists``: entry criteria, exceptions that prevent listing, a term and its extension, and
  removal triggers (a later record that ``refers_to`` the entry record);
- ``measures``: what a listing restricts, in which domain, on which legal basis.

Conditions are SQL boolean expressions over the record type's declared attributes. This module
only holds them as text: ``candor.engine.conditions`` parses and checks them (declared columns,
allowed functions, no subqueries) before any rulebook is compiled or stored.

How records count (the same on every engine, see docs/rulebooks.md):
- only records decided on or before the rating date exist for it;
- a record of the same type that ``refers_to`` another is a new *version* of it (a correction,
  a confirmation, a revocation); the latest version decides, and it counts only if ``final``;
- windows and terms run from the decision date of the first version;
- a record of another type that ``refers_to`` a counted one is a *trigger* (it settles it).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from candor.domain.records import RecordStatus
from candor.domain.registry import RecordTypeName, load_unique_yaml
from candor.domain.subjects import SubjectKind
from candor.errors import RulebookError

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
RulebookName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)]
Version = Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$", max_length=32)]
Grade = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9+-]*$", max_length=8)]
Citation = Annotated[str, Field(min_length=1, max_length=1000)]
Condition = Annotated[str, Field(min_length=1, max_length=2000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FINAL = RecordStatus.FINAL.value
# The statuses a rule, an override or a list entry counts: only final decisions, unless it says
# otherwise — and then lint wants a documented ``exception`` saying why (docs/rulebooks.md).
Statuses = Annotated[tuple[RecordStatus, ...], Field(min_length=1)]
ONLY_FINAL: tuple[RecordStatus, ...] = (RecordStatus.FINAL,)


def _counted(statuses: tuple[RecordStatus, ...]) -> tuple[RecordStatus, ...]:
    if len(set(statuses)) != len(statuses):
        raise ValueError("statuses: a status is listed twice")
    if RecordStatus.OVERTURNED in statuses:
        raise ValueError("statuses: an overturned record never counts")
    return statuses


class Unit(StrEnum):
    DAYS = "days"
    MONTHS = "months"
    YEARS = "years"


class Period(_Model):
    """A length of time in whole days, months or years: ``{years: 2}``."""

    days: int | None = Field(default=None, ge=1, le=36_500)
    months: int | None = Field(default=None, ge=1, le=1_200)
    years: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        given = [u for u in Unit if getattr(self, u.value) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of days, months or years")
        return self

    @property
    def unit(self) -> Unit:
        return next(u for u in Unit if getattr(self, u.value) is not None)

    @property
    def amount(self) -> int:
        value = getattr(self, self.unit.value)
        assert isinstance(value, int)
        return value

    def __str__(self) -> str:
        n, unit = self.amount, self.unit.value
        return f"{n} {unit[:-1] if n == 1 else unit}"

    def after(self, day: date) -> date:
        """``day`` plus this period; a day the target month lacks becomes its last day (31
        January + 1 month = 28 or 29 February), as the rating engine counts terms."""
        if self.unit is Unit.DAYS:
            return day + timedelta(days=self.amount)
        months = self.amount * (12 if self.unit is Unit.YEARS else 1)
        year, month = divmod(day.month - 1 + months, 12)
        year += day.year
        last = calendar.monthrange(year, month + 1)[1]
        return date(year, month + 1, min(day.day, last))


class Score(_Model):
    """Where every subject starts, and the bounds no score leaves."""

    base: int = Field(ge=-100_000, le=100_000)
    minimum: int | None = Field(default=None, ge=-100_000, le=100_000)
    maximum: int | None = Field(default=None, ge=-100_000, le=100_000)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        low = self.minimum if self.minimum is not None else self.base
        high = self.maximum if self.maximum is not None else self.base
        if not low <= self.base <= high:
            raise ValueError("base must lie between minimum and maximum")
        return self


class PointsFrom(_Model):
    """Points read from a numeric attribute: ``attribute × factor``, kept within bounds."""

    attribute: Name
    factor: float = Field(ge=-10_000, le=10_000)
    minimum: int | None = None
    maximum: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is greater than maximum")
        return self


class Rule(_Model):
    """Points for each counted record of a type that meets the condition."""

    id: Name
    record_type: RecordTypeName
    description: str = ""
    condition: Condition | None = None
    points: int | None = Field(default=None, ge=-10_000, le=10_000)
    per: Name | None = None  # multiply by this whole-number attribute (e.g. monthly cycles)
    points_from: PointsFrom | None = None
    cap: int | None = Field(default=None, ge=1, le=1_000_000)  # most points, either sign
    window: Period | None = None
    half_life: Period | None = None
    legal_basis: Citation | None = None
    statuses: Statuses = ONLY_FINAL
    exception: Citation | None = None  # why a rule may count records that are not final

    _statuses = field_validator("statuses")(_counted)

    @model_validator(mode="after")
    def _points(self) -> Self:
        if (self.points is None) == (self.points_from is None):
            raise ValueError("give either points or points_from")
        if self.per is not None and self.points is None:
            raise ValueError("per multiplies fixed points; use points_from for attribute points")
        if self.points == 0:
            raise ValueError("points must not be 0")
        # A month or a year is not a fixed number of days; a decay rate must be exact.
        if self.half_life is not None and self.half_life.unit is not Unit.DAYS:
            raise ValueError("give half_life in days, e.g. {days: 365}")
        return self


class Band(_Model):
    """A grade and the scores it covers (both bounds inclusive; a missing one is open)."""

    grade: Grade
    min: int | None = None
    max: int | None = None


class Grades(_Model):
    """Grade bands, best first. ``verified: false`` marks a split that was not confirmed."""

    bands: tuple[Band, ...] = Field(min_length=1)
    verified: bool = True
    note: str = ""

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        names = [b.grade for b in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("a grade is listed twice")
        return self

    def rank(self, grade: str) -> int:
        """0 for the best grade; larger is worse."""
        return [b.grade for b in self.bands].index(grade)


class Override(_Model):
    """A counted record of this type forces the subject's grade down to ``grade``."""

    id: Name
    record_type: RecordTypeName
    condition: Condition | None = None
    grade: Grade
    window: Period | None = None
    legal_basis: Citation | None = None
    statuses: Statuses = ONLY_FINAL
    exception: Citation | None = None

    _statuses = field_validator("statuses")(_counted)


class Consent(_Model):
    """No score without consent: the latest counted record of these types decides."""

    granted: RecordTypeName
    withdrawn: RecordTypeName
    legal_basis: Citation | None = None


class Criterion(_Model):
    """Records of a type that meet a condition (an entry, an exception or a removal trigger)."""

    record_type: RecordTypeName
    condition: Condition | None = None
    term: Period | None = None  # entries only: a term other than the list's
    legal_basis: Citation | None = None
    statuses: Statuses = ONLY_FINAL  # entries only
    exception: Citation | None = None  # entries only
    # Entries only: a minimum publicity before credit repair other than the list's
    # ``repair.minimum`` (NDRC 2019 No. 527 sets one per kind of penalty).
    repair_after: Period | None = None
    # Entries only: the record enters only once it has stood this long without a record of a
    # ``corrected_by`` type referring to it (an enterprise left on the abnormal-operations list
    # for 3 years uncorrected moves to the serious list). The listing starts when it has.
    uncorrected_for: Period | None = None
    corrected_by: tuple[RecordTypeName, ...] = ()

    _statuses = field_validator("statuses")(_counted)

    @model_validator(mode="after")
    def _corrected(self) -> Self:
        if (self.uncorrected_for is None) != (not self.corrected_by):
            raise ValueError(
                "uncorrected_for and corrected_by go together: how long the record stands "
                "uncorrected, and the record types that correct it"
            )
        if self.record_type in self.corrected_by:
            raise ValueError(
                "corrected_by: a record of the entry's own type referring to it is a new version "
                "of it, not a correction"
            )
        return self

    @property
    def entry_only(self) -> bool:
        """Whether it uses a field only an entry may."""
        return (
            self.term is not None
            or self.statuses != ONLY_FINAL
            or self.exception is not None
            or self.repair_after is not None
            or self.uncorrected_for is not None
        )


class Several(StrEnum):
    FIRST = "first"
    LONGEST = "longest"


_FOREVER = 10**9


def _lengths(what: str, periods: list[Period | None]) -> list[int]:
    """Periods as comparable numbers (months, or days), None as the longest of all."""
    units = {p.unit is Unit.DAYS for p in periods if p is not None}
    if len(units) > 1:
        raise ValueError(
            f"when_several: longest compares the entries' {what}: give them all in days, or "
            "all in months and years (a month is not a fixed number of days)"
        )
    return [
        _FOREVER if p is None else p.amount * (12 if p.unit is Unit.YEARS else 1) for p in periods
    ]


class Extension(_Model):
    """A longer term for entry records that meet ``condition``."""

    condition: Condition
    years: int = Field(ge=1, le=10)  # when the record does not say how many (``years_from``)
    years_from: Name | None = None
    max_years: int | None = Field(default=None, ge=1, le=10)
    legal_basis: Citation | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.max_years is not None and self.max_years < self.years:
            raise ValueError("max_years must be at least years")
        return self


class Repair(_Model):
    """Credit repair: after ``minimum`` publicity a subject may apply for early removal.

    A reviewer's approval is a record of ``record_type`` that ``refers_to`` the entry record; the
    type must be one of the list's ``removal`` criteria, so the approval ends the listing the way
    any removal trigger does — on record, and reproducibly by every later rating.
    """

    minimum: Period
    record_type: RecordTypeName
    legal_basis: Citation | None = None


class ListSpec(_Model):
    """A list: who goes on it, for how long, and what takes them off."""

    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    legal_basis: Citation | None = None
    entry: tuple[Criterion, ...] = Field(min_length=1)
    exceptions: tuple[Criterion, ...] = ()
    term: Period | None = None
    extension: Extension | None = None
    removal: tuple[Criterion, ...] = ()
    how_to_object: str = Field(default="", max_length=1000)
    publish: bool = False
    # The subject is told this long before a listing takes effect; unless ``wait_for_warning`` is
    # false, the listing (and its term) starts only when the warning period has run.
    advance_warning: Period | None = None
    wait_for_warning: bool = True
    # How long a reviewer has to decide an objection to a listing on this list.
    review_within: Period | None = None
    repair: Repair | None = None
    # When one record meets several entries: the first in the file decides its term, or the
    # one with the longest (NDRC 2019 No. 527: the longest period applies).
    when_several: Several = Several.FIRST

    def repair_minimum(self, criterion: int) -> Period | None:
        """How long a listing by entry ``criterion`` stays public before the subject may apply
        for early removal (None: the list allows no repair)."""
        if self.repair is None:
            return None
        return self.entry[criterion].repair_after or self.repair.minimum

    def entry_order(self) -> list[int]:
        """The entries in the order they are tried on a record; the first that matches decides
        the listing's term and its repair minimum.

        ``first``: file order. ``longest``: the longest term first (no term at all is the
        longest), and among equal terms the longest repair minimum; ties keep file order.

        Raises:
            ValueError: ``longest`` compares periods that have no fixed order (days against
                months or years: 365 days is shorter than a year in a leap year only).
        """
        order = list(range(len(self.entry)))
        if self.when_several is Several.FIRST:
            return order
        default = self.repair.minimum if self.repair else None
        terms = [c.term or self.term for c in self.entry]
        minimums = [c.repair_after or default for c in self.entry]
        term_key = _lengths("term", terms)
        minimum_key = _lengths("repair_after", minimums)
        return sorted(order, key=lambda i: (-term_key[i], -minimum_key[i], i))

    @model_validator(mode="after")
    def _exceptions_name_entry_types(self) -> Self:
        entry_types = {c.record_type for c in self.entry}
        for i, exception in enumerate(self.exceptions):
            if exception.record_type not in entry_types:
                raise ValueError(
                    f"exceptions.{i}: {exception.record_type} is not an entry record type; an "
                    "exception is a condition on the entry record"
                )
        for part in ("exceptions", "removal"):
            for i, criterion in enumerate(getattr(self, part)):
                if criterion.entry_only:
                    raise ValueError(
                        f"{part}.{i}: only entries have a term, statuses, an exception, "
                        "repair_after or uncorrected_for; exceptions and removal triggers are "
                        "final decisions that simply match"
                    )
        if self.repair is None and any(c.repair_after for c in self.entry):
            raise ValueError("entry: repair_after needs the list's repair")
        if self.when_several is Several.LONGEST:
            self.entry_order()  # raises when the periods cannot be compared
        if self.repair is not None and self.repair.record_type not in {
            c.record_type for c in self.removal
        }:
            raise ValueError(
                f"repair.record_type: {self.repair.record_type} is not one of the removal "
                "criteria; an approved repair ends the listing as a removal trigger does"
            )
        return self


class MeasureKind(StrEnum):
    PENALTY = "penalty"
    REWARD = "reward"


class Measure(_Model):
    """A consequence relying parties apply to a subject — and to nobody else: a penalty a
    listing imposes, or a reward (a listing, or a grade, earns it)."""

    title: str = Field(min_length=1, max_length=200)
    domain: Name
    legal_basis: Citation | None = None
    kind: MeasureKind = MeasureKind.PENALTY
    imposed_by: tuple[Name, ...] = ()  # the lists whose listings bring it
    # The grades that earn it (a subject scored, with consent, in one of them). Only a reward may
    # be tied to grades: a low score is never by itself grounds for a penalty, and lint refuses
    # such a measure (``grade-penalty``).
    grades: tuple[Grade, ...] = ()
    # Whom it restricts. Only ``subject`` passes lint: the field exists so that a rulebook that
    # tries to reach relatives, representatives or associates is refused by name, not by schema.
    applies_to: Name = "subject"
    # A measure in another domain than its rulebook's needs a law that ties the two domains
    # (joint punishment is not a default): cited here, and lint refuses the measure without it.
    cross_domain_basis: Citation | None = None


class Rulebook(_Model):
    """One version of one rulebook."""

    rulebook: RulebookName
    version: Version
    title: str = Field(min_length=1, max_length=200)
    authority: str = Field(default="", max_length=200)
    domain: Name
    legal_basis: Citation | None = None
    published_at: str = Field(default="", max_length=500)
    subject_kinds: tuple[SubjectKind, ...] = (SubjectKind.PERSON, SubjectKind.ORGANISATION)
    score: Score | None = None
    consent: Consent | None = None
    rules: tuple[Rule, ...] = ()
    grades: Grades | None = None
    overrides: tuple[Override, ...] = ()
    lists: dict[Name, ListSpec] = Field(default_factory=dict)
    measures: dict[Name, Measure] = Field(default_factory=dict)
    # How long a reviewer has to decide an objection to a record of a type (a list's own
    # ``review_within`` governs objections to its listings; the deployment's default otherwise).
    review_within: dict[RecordTypeName, Period] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if SubjectKind.UNKNOWN in self.subject_kinds:
            raise ValueError("subject_kinds are person and organisation")
        if (self.rules or self.grades or self.overrides or self.consent) and self.score is None:
            raise ValueError("rules, grades, overrides and consent need a score")
        ids = [r.id for r in self.rules] + [o.id for o in self.overrides]
        if len(set(ids)) != len(ids):
            raise ValueError("a rule or override id is used twice")
        if self.overrides and self.grades is None:
            raise ValueError("overrides need grades")
        for o in self.overrides:
            if self.grades is not None and o.grade not in {b.grade for b in self.grades.bands}:
                raise ValueError(f"override {o.id}: grade {o.grade} is not one of the bands")
        self._measures_name_lists_or_grades()
        if not (self.score or self.lists):
            raise ValueError("a rulebook has a score, lists, or both")
        return self

    def _measures_name_lists_or_grades(self) -> None:
        bands = {b.grade for b in self.grades.bands} if self.grades else set()
        for name, measure in self.measures.items():
            if bool(measure.imposed_by) == bool(measure.grades):
                raise ValueError(
                    f"measure {name}: give imposed_by (the lists that bring it) or grades (the "
                    "grades that earn it), one of the two"
                )
            for listed in measure.imposed_by:
                if listed not in self.lists:
                    raise ValueError(f"measure {name}: imposed_by names no list {listed!r}")
            for grade in measure.grades:
                if grade not in bands:
                    raise ValueError(f"measure {name}: grade {grade} is not one of the bands")

    @property
    def key(self) -> str:
        return f"{self.rulebook}@{self.version}"

    def record_types(self) -> frozenset[str]:
        """Every record type this rulebook reads."""
        types = {r.record_type for r in self.rules} | {o.record_type for o in self.overrides}
        if self.consent:
            types |= {self.consent.granted, self.consent.withdrawn}
        for spec in self.lists.values():
            types |= {c.record_type for c in (*spec.entry, *spec.removal)}
            types |= {t for c in spec.entry for t in c.corrected_by}
        return frozenset(types)


class ActiveRulebook(_Model):
    """A stored rulebook version and the date from which it governs."""

    id: int
    effective_from: date
    rulebook: Rulebook


def parse_rulebook(text: str, *, origin: str) -> Rulebook:
    """Parse and validate rulebook YAML (not yet its conditions: see ``engine.conditions``).

    Raises:
        RulebookError: naming ``origin`` and the path inside the file of each problem.
    """
    data: Any = load_unique_yaml(text, origin=origin, error=RulebookError)
    if not isinstance(data, dict):
        raise RulebookError(f"{origin}: expected a mapping with rulebook, version, title, …")
    try:
        return Rulebook.model_validate(data)
    except ValidationError as e:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        ]
        raise RulebookError(f"{origin}: " + "; ".join(problems), problems=problems) from None

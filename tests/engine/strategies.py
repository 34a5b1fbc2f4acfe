"""Hypothesis strategies for the rating engine: random valid rulebooks and the records they read.

Rulebooks are built as the Pydantic models themselves (so every generated one passes the same
validators a published file does) over the shipped record-type registry, with conditions drawn
from small lists of valid SQL per record type. Records follow the store's rules for
``refers_to``: a record names an earlier record (a lower id) of the same subject decided no later
than itself; one of the same type is a later version (``original_id`` is the chain's first
version), one of another type is a trigger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from candor.domain.records import RecordStatus
from candor.domain.registry import AttributeSpec, AttributeType, Registry, parse_registry
from candor.domain.rulebook import (
    ActiveRulebook,
    Band,
    Consent,
    Criterion,
    Extension,
    Grades,
    ListSpec,
    Override,
    Period,
    PointsFrom,
    Rule,
    Rulebook,
    Score,
    Several,
)
from candor.domain.subjects import SubjectKind


def _shipped() -> Registry:
    text = resources.files("candor.resources").joinpath("record-types.yaml").read_text("utf-8")
    return parse_registry(text, origin="record-types.yaml")


SHIPPED = _shipped()

CARD = "finance.card_overdue_cycle"  # months (integer, required), amount (decimal)
FRAUD = "commerce.fraud_finding"  # kind (enum, required), severity (integer, required)
FINDING = "court.dishonest_debtor_finding"  # case_no, ground, aggravated, extension_years, …
LOAN = "finance.loan_default"  # amount (decimal)
TICKET = "traffic.violation"  # code (string)
DRUNK = "traffic.drunk_driving"  # no attributes
PERFORMED = "court.obligation_performed"  # case_no
SETTLED = "court.settlement_performed"  # case_no
GRANTED = "consent.scoring_granted"
WITHDRAWN = "consent.scoring_withdrawn"
UNREAD = "civic.heroic_act"  # no generated rulebook reads it: the plans must ignore it

RULE_TYPES = (CARD, FRAUD, FINDING, LOAN, TICKET, DRUNK)
ENTRY_TYPES = (FINDING, FRAUD, CARD, LOAN)
REMOVAL_TYPES = (PERFORMED, SETTLED, LOAN, TICKET)

# Valid conditions per record type: comparisons, BETWEEN, IN, IS NULL, boolean attributes,
# arithmetic (``/`` on whole numbers truncates on SQLite and PostgreSQL but not on DuckDB, unless
# SQLGlot writes it out right; ``/`` by zero), whole numbers times decimals, the allowed functions,
# text ordered by ``<`` and ``greatest`` (by code point, whatever PostgreSQL's collation), and
# ``occurred_on``. Several read optional attributes, so NULLs flow through the plans; case_no and
# code hold non-ASCII letters, upper and lower case.
_ON_ANY = (
    "occurred_on >= '2024-02-29'",
    "occurred_on < '2023-01-31'",
    "greatest(occurred_on, '2023-06-30') <= '2024-01-31'",
)
CONDITIONS: dict[str, tuple[str, ...]] = {
    CARD: (
        "months >= 2",
        "months BETWEEN 2 AND 6",
        "NOT (months > 3)",
        "months / 4 >= 1",
        "months / 2 = 1",
        "amount > 1000",
        "amount IS NULL",
        "coalesce(amount, 0) <= 500",
        "amount / months > 100",
        "amount / (months - 1) > 100",
        "months * 0.1 > 0.3",
        *_ON_ANY,
    ),
    FRAUD: (
        "kind IN ('pyramid', 'fraud')",
        "kind = 'other'",
        "kind <> 'counterfeit'",
        "severity BETWEEN 3 AND 7",
        "severity > 5 OR kind = 'counterfeit'",
        "abs(severity - 5) <= 2",
        "greatest(severity, 4) = 4",
        "least(severity, 6) * 2 > 7",
        "severity / 3 = 1",
        "10 / (severity - 5) >= 2",
        "severity * 0.1 > 0.3",
        "severity * 1.1 >= 5.5",
        "kind < 'other'",
        *_ON_ANY,
    ),
    FINDING: (
        "aggravated",
        "NOT aggravated",
        "aggravated IS NULL",
        "ground = 1",
        "ground BETWEEN 2 AND 6",
        "ground IN (1, 3, 5)",
        "not_listed_because = 'student_campus_loan'",
        "ground = 1 AND not_listed_because IN ('adequate_security', 'seized_assets_cover_debt')",
        "coalesce(extension_years, 0) >= 2",
        "length(case_no) > 8",
        "case_no < 'B'",
        "case_no >= 'a'",
        "ground * 0.7 <= 2.1",
        "aggravated IS NOT TRUE",
        "coalesce(aggravated, ground > 3)",
        *_ON_ANY,
    ),
    LOAN: (
        "amount > 1000",
        "amount IS NOT NULL",
        "amount BETWEEN 100.5 AND 5000",
        "amount / 3 > 400",
        *_ON_ANY,
    ),
    TICKET: (
        "code = 'A1'",
        "length(code) = 2",
        "code > 'a1'",
        "code BETWEEN 'A' AND 'b'",
        "greatest(code, 'B') = code",
        "least(code, 'ä') < 'b'",
    ),
    DRUNK: (),
    PERFORMED: ("length(case_no) > 8", "case_no > 'Ab'"),
    SETTLED: ("length(case_no) > 8",),
}
# Whole-number attributes (``per``, ``years_from``) and numeric ones (``points_from``).
INTEGERS: dict[str, tuple[str, ...]] = {
    CARD: ("months",),
    FRAUD: ("severity",),
    FINDING: ("ground", "extension_years"),
}
NUMBERS: dict[str, tuple[str, ...]] = {**INTEGERS, CARD: ("months", "amount"), LOAN: ("amount",)}

GRADES = ("A", "B", "C", "D", "E")
# Factors that land whole numbers on halves (4.1 x 15 = 61.5), that are inexact in binary, and
# one with more digits than a double spells exactly.
FACTORS = (-0.01, -0.5, 0.25, -5.0, 1.5, -0.1, 3.0, -1.0, 4.1, -0.7, 0.125, -2.75, 0.1234567)
# Text a language's collation orders otherwise than code points do ("a1" < "B1" in English).
STRINGS = (
    "（2024）京01执123号",
    "AB-1",
    "ab-1",
    "A1",
    "a1",
    "B1",
    "b1",
    "Ab-12345678",
    'a"1',
    "b\\2",
    "c'3",
    "Äb-12345",
    "äb-12345",
    "ä1",
    "Ä1",
)

# Dates where date arithmetic goes wrong: month ends, leap days, year ends.
SPECIAL_DATES = tuple(
    date.fromisoformat(d)
    for d in (
        "2024-02-29",
        "2023-01-31",
        "2024-01-31",
        "2023-02-28",
        "2024-03-31",
        "2023-12-31",
        "2022-08-31",
        "2024-05-31",
        "2020-02-29",
        "2025-01-30",
        "2023-03-29",
    )
)
EARLIEST = date(2019, 1, 1)
LATEST = date(2027, 12, 31)


def dates() -> st.SearchStrategy[date]:
    return st.one_of(st.sampled_from(SPECIAL_DATES), st.dates(EARLIEST, LATEST))


def periods(*, days: bool = True) -> st.SearchStrategy[Period]:
    options = [
        st.builds(Period, months=st.integers(1, 30)),
        st.builds(Period, years=st.integers(1, 4)),
    ]
    if days:
        options.append(st.builds(Period, days=st.integers(1, 900)))
    return st.one_of(options)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _condition(record_type: str) -> st.SearchStrategy[str | None]:
    choices = CONDITIONS.get(record_type, ())
    return _maybe(st.sampled_from(choices)) if choices else st.none()


@st.composite
def _ordered_pair(draw: st.DrawFn, low: int, high: int) -> tuple[int | None, int | None]:
    a, b = sorted((draw(st.integers(low, high)), draw(st.integers(low, high))))
    return (a if draw(st.booleans()) else None), (b if draw(st.booleans()) else None)


@st.composite
def rules(draw: st.DrawFn, rule_id: str, types: tuple[str, ...] = RULE_TYPES) -> Rule:
    record_type = draw(st.sampled_from(types))
    how = ["fixed"]
    if record_type in INTEGERS:
        how.append("per")
    if record_type in NUMBERS:
        how.append("from")
    kind = draw(st.sampled_from(how))
    points: int | None = None
    per: str | None = None
    points_from: PointsFrom | None = None
    if kind == "from":
        factor = draw(
            st.one_of(
                st.sampled_from(FACTORS),
                st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 3)),
            )
        )
        attribute = draw(st.sampled_from(NUMBERS[record_type]))
        low, high = draw(_ordered_pair(-200, 200))
        points_from = PointsFrom(
            attribute=attribute,
            factor=factor,
            minimum=low,
            maximum=high,
        )
    else:
        points = draw(st.integers(-100, 100).filter(bool))
        if kind == "per":
            per = draw(st.sampled_from(INTEGERS[record_type]))
    return Rule(
        id=rule_id,
        record_type=record_type,
        condition=draw(_condition(record_type)),
        points=points,
        per=per,
        points_from=points_from,
        cap=draw(_maybe(st.integers(1, 300))),
        window=draw(_maybe(periods())),
        # Records are up to about 3,800 days old: more than a thousand half-lives of 1 to 3 days.
        half_life=draw(_maybe(st.builds(Period, days=st.integers(1, 1000)))),
        statuses=draw(_statuses()),
    )


def _statuses() -> st.SearchStrategy[tuple[RecordStatus, ...]]:
    """Mostly final decisions only (every rulebook that says nothing); sometimes records under
    review too, so that ``facts`` holds both and every step tests the statuses it counts."""
    return st.sampled_from(
        [
            (RecordStatus.FINAL,),
            (RecordStatus.FINAL,),
            (RecordStatus.FINAL,),
            (RecordStatus.FINAL, RecordStatus.UNDER_REVIEW),
            (RecordStatus.UNDER_REVIEW,),
        ]
    )


@st.composite
def grades(draw: st.DrawFn) -> Grades:
    names = draw(st.lists(st.sampled_from(GRADES), min_size=1, max_size=4, unique=True))
    bands = []
    for name in names:
        low, high = draw(_ordered_pair(-200, 1200))
        bands.append(Band(grade=name, min=low, max=high))
    return Grades(bands=tuple(bands))


@st.composite
def lists(draw: st.DrawFn, types: tuple[str, ...] = RULE_TYPES) -> ListSpec:
    entry_types = [t for t in types if t in ENTRY_TYPES] or list(ENTRY_TYPES)
    entry = tuple(
        Criterion(
            record_type=(t := draw(st.sampled_from(entry_types))),
            condition=draw(_condition(t)),
            term=draw(_maybe(periods(days=False))),
            statuses=draw(_statuses()),
            **draw(_uncorrected(t)),
        )
        for _ in range(draw(st.integers(1, 2)))
    )
    entry_types = sorted({c.record_type for c in entry})
    exceptions = tuple(
        Criterion(
            record_type=(t := draw(st.sampled_from(entry_types))),
            condition=draw(_condition(t)),
        )
        for _ in range(draw(st.sampled_from([0, 0, 1, 2])))
    )
    term = draw(_maybe(periods()))
    extension = None
    if draw(st.booleans()):
        # The extension's condition and years_from must hold for every entry record type.
        only = entry_types[0] if len(entry_types) == 1 else None
        choices = (*CONDITIONS[only], *_ON_ANY) if only else _ON_ANY
        years = draw(st.integers(1, 3))
        extension = Extension(
            condition=draw(st.sampled_from(choices)),
            years=years,
            years_from=draw(_maybe(st.sampled_from(INTEGERS[only]))) if only in INTEGERS else None,
            max_years=draw(_maybe(st.integers(years, 4))),
        )
    removal = tuple(
        Criterion(
            record_type=(t := draw(st.sampled_from(REMOVAL_TYPES))),
            condition=draw(_condition(t)) if draw(st.integers(0, 2)) == 0 else None,
        )
        for _ in range(draw(st.sampled_from([0, 1, 1, 2])))
    )
    spec = {
        "title": "A list",
        "entry": entry,
        "exceptions": exceptions,
        "term": term,
        "extension": extension,
        "removal": removal,
    }
    several = draw(st.sampled_from([Several.FIRST, Several.LONGEST]))
    try:
        return ListSpec(**spec, when_several=several)
    except ValidationError:  # ``longest`` with periods in days and in months: not comparable
        return ListSpec(**spec)


@st.composite
def _uncorrected(draw: st.DrawFn, record_type: str) -> dict[str, Any]:
    """Now and then an entry that waits for its record to stand uncorrected, corrected by a
    record type that refers to entries (what ``records`` draws as triggers)."""
    if draw(st.integers(0, 3)):
        return {}
    correctors = [t for t in REMOVAL_TYPES if t != record_type]
    return {
        "uncorrected_for": draw(periods()),
        "corrected_by": tuple(draw(st.sets(st.sampled_from(correctors), min_size=1, max_size=2))),
    }


@st.composite
def rulebooks(draw: st.DrawFn, name: str, types: tuple[str, ...] = RULE_TYPES) -> Rulebook:
    scored = draw(st.integers(0, 3)) > 0
    score = rule_list = bands = consent = None
    overrides: tuple[Override, ...] = ()
    if scored:
        low, high = draw(_ordered_pair(-100, 1100))
        base = draw(
            st.integers(low if low is not None else -100, high if high is not None else 1100)
        )
        score = Score(base=base, minimum=low, maximum=high)
        rule_list = tuple(draw(rules(f"r{i}", types)) for i in range(draw(st.integers(1, 4))))
        bands = draw(_maybe(grades()))
        if bands is not None:
            overrides = tuple(
                Override(
                    id=f"o{i}",
                    record_type=(t := draw(st.sampled_from(types))),
                    condition=draw(_condition(t)),
                    grade=draw(st.sampled_from([b.grade for b in bands.bands])),
                    window=draw(_maybe(periods())),
                )
                for i in range(draw(st.integers(0, 2)))
            )
        if draw(st.booleans()):
            consent = Consent(granted=GRANTED, withdrawn=WITHDRAWN)
    names = draw(st.lists(st.sampled_from(["alpha", "beta"]), max_size=2, unique=True))
    if not scored and not names:
        names = ["alpha"]
    kinds = draw(
        st.sampled_from(
            [
                (SubjectKind.PERSON, SubjectKind.ORGANISATION),
                (SubjectKind.PERSON,),
                (SubjectKind.ORGANISATION,),
            ]
        )
    )
    return Rulebook(
        rulebook=name,
        version="1",
        title="Generated",
        domain="civic",
        subject_kinds=kinds,
        score=score,
        consent=consent,
        rules=rule_list or (),
        grades=bands,
        overrides=overrides,
        lists={n: draw(lists(types)) for n in names},
    )


@st.composite
def active_rulebooks(draw: st.DrawFn) -> list[ActiveRulebook]:
    """1-2 rulebooks."""
    # A few record types per plan, so that records often meet several rules and lists.
    types = tuple(draw(st.lists(st.sampled_from(RULE_TYPES), min_size=1, max_size=3, unique=True)))
    count = draw(st.integers(1, 2))
    return [
        ActiveRulebook(
            id=i + 1, effective_from=date(2019, 1, 1), rulebook=draw(rulebooks(f"rb-{i}", types))
        )
        for i in range(count)
    ]


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One row of the store's ``records`` table, as far as the plans read it."""

    id: int
    subject_id: int
    record_type: str
    occurred_on: date
    decided_on: date
    status: str
    refers_to_id: int | None
    original_id: int | None
    attributes: dict[str, Any]

    @property
    def attributes_json(self) -> str:
        return json.dumps(self.attributes, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Subject:
    id: int
    kind: str


def _decimals(spec: AttributeSpec) -> st.SearchStrategy[float]:
    high = int(spec.maximum if spec.maximum is not None else 1e9)
    return st.one_of(
        st.integers(0, 5000).map(float),
        st.integers(0, min(high, 10**6) * 100).map(lambda c: c / 100),
        st.integers(0, 10**9).map(lambda c: c / 10**6),
        st.sampled_from([1000.0, 1000.01, 100.5, 5000.0, 500.0, 1200.0]),
    )


def _value(spec: AttributeSpec) -> st.SearchStrategy[Any]:
    match spec.type:
        case AttributeType.INTEGER:
            low = int(spec.minimum if spec.minimum is not None else -5)
            high = int(spec.maximum if spec.maximum is not None else 1000)
            return st.integers(low, min(high, low + 14))
        case AttributeType.DECIMAL:
            return _decimals(spec)
        case AttributeType.BOOLEAN:
            return st.booleans()
        case AttributeType.ENUM:
            assert spec.values is not None
            return st.sampled_from(spec.values)
        case AttributeType.DATE:
            return dates().map(date.isoformat)
        case _:
            return st.sampled_from(STRINGS)


@st.composite
def attributes(draw: st.DrawFn, record_type: str) -> dict[str, Any]:
    spec = SHIPPED.record_types[record_type]
    out: dict[str, Any] = {}
    for name, attr in spec.attributes.items():
        if attr.required or draw(st.booleans()):
            out[name] = draw(_value(attr))
    return out


def _on_or_after(earliest: date) -> st.SearchStrategy[date]:
    """A decision date no earlier than ``earliest`` (often the same day)."""
    return st.one_of(
        st.just(earliest),
        st.integers(1, 800).map(lambda n: earliest + timedelta(n)),
        dates().filter(lambda d: d >= earliest),
    )


@st.composite
def records(
    draw: st.DrawFn,
    record_types: frozenset[str],
    *,
    favoured: tuple[str, ...] = (),
    settling: tuple[str, ...] = (),
    max_subjects: int = 6,
) -> tuple[list[Subject], list[Record]]:
    """Subjects and their records, of the types given (and a few of a type nobody reads).

    ``favoured``: types to draw more often (what rules count);
    ``settling``: types of records that refer to an entry record (what removal criteria name).
    """
    first_subject = draw(st.integers(1, 50))
    subjects = [
        Subject(
            first_subject + i,
            draw(st.sampled_from(["person", "person", "organisation", "unknown"])),
        )
        for i in range(draw(st.integers(1, max_subjects)))
    ]
    read = sorted(record_types)
    others = sorted({UNREAD, GRANTED, WITHDRAWN, PERFORMED} - record_types)
    settling = settling or (PERFORMED,)
    out: list[Record] = []
    next_id = draw(st.integers(1, 100))
    for subject in subjects:
        mine: list[Record] = []
        for _ in range(draw(st.integers(0 if out else 1, 10))):  # the first subject has one
            refers = draw(st.sampled_from(["no", "no", "version", "trigger"])) if mine else "no"
            target = None
            if refers == "no":
                # Mostly types the rulebooks read; now and then one they do not.
                pool = draw(
                    st.sampled_from([p for p in (favoured, favoured, read, read, others) if p])
                )
                record_type = draw(st.sampled_from(pool))
            elif refers == "version":
                target = draw(st.sampled_from(mine))
                record_type = target.record_type
            else:
                entries = [r for r in mine if r.record_type in ENTRY_TYPES]
                target = draw(st.sampled_from(entries or mine))
                record_type = draw(st.sampled_from(settling))
            decided = draw(dates() if target is None else _on_or_after(target.decided_on))
            occurred = decided - timedelta(draw(st.sampled_from([0, 0, 1, 30, 400])))
            original = None
            if target is not None and target.record_type == record_type:
                original = target.original_id or target.id
            record = Record(
                id=next_id,
                subject_id=subject.id,
                record_type=record_type,
                occurred_on=occurred,
                decided_on=decided,
                status=draw(
                    st.sampled_from(["final", "final", "final", "under_review", "overturned"])
                ),
                refers_to_id=target.id if target is not None else None,
                original_id=original,
                attributes=draw(attributes(record_type)),
            )
            next_id += draw(st.integers(1, 3))
            mine.append(record)
        out += mine
    return subjects, out


@st.composite
def as_of_dates(draw: st.DrawFn, rows: list[Record]) -> date:
    """A rating date: mostly a record's decision date moved a little or by a period (to hit
    window and term ends exactly), else any date."""
    if not rows or not draw(st.integers(0, 4)):
        return draw(dates())
    decided = draw(st.sampled_from(rows)).decided_on
    return draw(
        st.one_of(
            st.sampled_from(
                [
                    decided,
                    decided - timedelta(1),
                    date_add_months(decided, 1),
                    date_add_months(decided, 12),
                    date_add_months(decided, 24) + timedelta(1),
                ]
            ),
            st.integers(0, 500).map(lambda n: decided + timedelta(n)),
        )
    )


def date_add_months(d: date, months: int) -> date:
    """``d`` plus whole months, landing on the month's last day when the day does not exist."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in range(d.day, 27, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return date(year, month, d.day)

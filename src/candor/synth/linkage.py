"""Person records to test identity resolution on: as many sources would send them about known
persons, with the corruption that makes linking hard — and the truth (issue 7's benchmark).

Each person gets one or more records (a geometric number: most persons appear once or twice, a
few often). The first record of a person is clean; every later one is corrupted now and then,
each corruption independently:

- the name romanised (张晓明 as "Zhang Xiaoming", "ZHANG Xiaoming" or "Xiaoming Zhang": a form
  typed by a bank clerk abroad, or a passport's);
- a homophone in the given name (晓明 as 小明: the same pinyin, another character — what a
  clerk typing by pinyin picks by mistake);
- the identifier typed wrong (a typo, two characters swapped, the check character left off),
  left out, or masked to its last four characters (110105********002X is what many forms show);
- the address an earlier or later one (the person moved);
- the birth date left out, or its day and month swapped where both are ≤ 12;
- the region code left out.

The rates are assumptions, not measurements: they make a hard test, and the truth column says
which corruptions each record carries, so a result can be broken down by them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cache

import numpy as np
import polars as pl
from faker import Faker
from faker.providers.person.zh_CN import Provider as PersonProvider
from pypinyin import Style, lazy_pinyin

from candor.synth.identifiers import DAMAGE_SHARES, Damage, damaged, resident_ids
from candor.synth.names import person_name_parts
from candor.synth.places import PERSON_ORIGIN_SHARES, AddressBook, region_codes
from candor.synth.population import MALE_SHARE, birth_dates
from candor.synth.timeline import EPOCH


class Corruption(StrEnum):
    ROMANISED = "romanised"
    HOMOPHONE = "homophone"
    IDENTIFIER_DAMAGED = "identifier_damaged"
    IDENTIFIER_MISSING = "identifier_missing"
    IDENTIFIER_MASKED = "identifier_masked"
    MOVED = "moved"
    BIRTH_DATE_MISSING = "birth_date_missing"
    BIRTH_DATE_SWAPPED = "birth_date_swapped"
    REGION_MISSING = "region_missing"


# The chance that a record after a person's first carries each corruption (independently).
RATES: dict[Corruption, float] = {
    Corruption.ROMANISED: 0.10,
    Corruption.HOMOPHONE: 0.05,
    Corruption.IDENTIFIER_DAMAGED: 0.10,
    Corruption.IDENTIFIER_MISSING: 0.15,
    Corruption.IDENTIFIER_MASKED: 0.10,
    Corruption.MOVED: 0.20,
    Corruption.BIRTH_DATE_MISSING: 0.10,
    Corruption.BIRTH_DATE_SWAPPED: 0.02,
    Corruption.REGION_MISSING: 0.10,
}
# A person's records: 1 + a geometric number of more, with this mean number of records.
MEAN_RECORDS = 2.5
COLUMNS = (
    "record_id",
    "name",
    "birth_date",
    "region_code",
    "address",
    "identifier",
    "person",
    "corruptions",
)


@dataclass(frozen=True)
class LinkageRecords:
    """The records (``COLUMNS``: the compared fields, then the truth: ``person`` and the
    ``corruptions`` each carries) and how many persons they are about."""

    table: pl.DataFrame
    persons: int

    def true_pairs(self) -> int:
        """How many pairs of records are about the same person (what recall counts against)."""
        sizes = self.table.group_by("person").len().get_column("len").to_numpy()
        return int((sizes * (sizes - 1) // 2).sum())


@cache
def _homophones() -> dict[str, tuple[str, ...]]:
    """Given-name characters by their toneless pinyin: the characters a pinyin keyboard offers
    for the same syllable, among those names are made of."""
    characters = {
        ch
        for name in (*PersonProvider.first_names_male, *PersonProvider.first_names_female)
        for ch in name
    }
    by_sound: dict[str, list[str]] = defaultdict(list)
    for ch in sorted(characters):
        by_sound[lazy_pinyin(ch, style=Style.NORMAL)[0]].append(ch)
    return {ch: tuple(by_sound[lazy_pinyin(ch, style=Style.NORMAL)[0]]) for ch in characters}


def _syllables(text: str) -> str:
    return "".join(lazy_pinyin(text, style=Style.NORMAL))


def romanised(rng: np.random.Generator, surname: str, given: str) -> str:
    """The name as a romanised form writes it: "Zhang Xiaoming", "ZHANG Xiaoming" or
    "Xiaoming Zhang"."""
    family, own = _syllables(surname).capitalize(), _syllables(given).capitalize()
    form = int(rng.integers(3))
    if form == 0:
        return f"{family} {own}"
    if form == 1:
        return f"{family.upper()} {own}"
    return f"{own} {family}"


def homophone(rng: np.random.Generator, given: str) -> str | None:
    """The given name with one character replaced by another of the same sound, or None when
    none of its characters has one."""
    sounds = _homophones()
    options = [(i, [c for c in sounds.get(ch, ()) if c != ch]) for i, ch in enumerate(given)]
    options = [(i, others) for i, others in options if others]
    if not options:
        return None
    at, others = options[int(rng.integers(len(options)))]
    return given[:at] + others[int(rng.integers(len(others)))] + given[at + 1 :]


def _swapped(day: date) -> date | None:
    if day.day > 12 or day.day == day.month:
        return None
    return day.replace(month=day.day, day=day.month)


@dataclass(frozen=True)
class _Person:
    surname: str
    given: str
    birth: date
    identifier: str
    region: str
    home: str
    other_home: str  # where the person moved from, or to


_DAMAGES = list(DAMAGE_SHARES)
_DAMAGE_WEIGHTS = np.array([DAMAGE_SHARES[k] for k in _DAMAGES])


def _name(rng: np.random.Generator, p: _Person, hit: set[Corruption]) -> str:
    given = p.given
    if Corruption.HOMOPHONE in hit:
        changed = homophone(rng, given)
        if changed is None:
            hit.discard(Corruption.HOMOPHONE)
        else:
            given = changed
    if Corruption.ROMANISED in hit:
        return romanised(rng, p.surname, given)
    return p.surname + given


def _identifier(rng: np.random.Generator, p: _Person, hit: set[Corruption]) -> str | None:
    if Corruption.IDENTIFIER_MISSING in hit:
        hit -= {Corruption.IDENTIFIER_DAMAGED, Corruption.IDENTIFIER_MASKED}
        return None
    if Corruption.IDENTIFIER_MASKED in hit:
        hit.discard(Corruption.IDENTIFIER_DAMAGED)
        return p.identifier[:6] + "*" * 8 + p.identifier[-4:]
    if Corruption.IDENTIFIER_DAMAGED in hit:
        kind = _DAMAGES[rng.choice(len(_DAMAGES), p=_DAMAGE_WEIGHTS)]
        return damaged(rng, p.identifier, Damage(kind))
    return p.identifier


def _birth_date(p: _Person, hit: set[Corruption]) -> str | None:
    if Corruption.BIRTH_DATE_MISSING in hit:
        hit.discard(Corruption.BIRTH_DATE_SWAPPED)
        return None
    if Corruption.BIRTH_DATE_SWAPPED in hit:
        swapped = _swapped(p.birth)
        if swapped is not None:
            return swapped.isoformat()
        hit.discard(Corruption.BIRTH_DATE_SWAPPED)
    return p.birth.isoformat()


def _record(rng: np.random.Generator, p: _Person, hit: set[Corruption]) -> dict[str, object]:
    """One record about ``p`` with the corruptions ``hit`` (those that cannot apply to this
    person, such as a homophone for a name without one, are taken out of ``hit``)."""
    return {
        "name": _name(rng, p, hit),
        "identifier": _identifier(rng, p, hit),
        "birth_date": _birth_date(p, hit),
        "region_code": None if Corruption.REGION_MISSING in hit else p.region,
        "address": p.other_home if Corruption.MOVED in hit else p.home,
    }


def person_records(persons: int, *, seed: int = 0, today: date | None = None) -> LinkageRecords:
    """``persons`` persons and their records, corrupted as the module says, in a shuffled
    order (a source's file is not sorted by person)."""
    today = today or date(2026, 11, 23)
    rng = np.random.default_rng(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    book = AddressBook.draw(fake)
    born = birth_dates(rng, persons, today)
    male = rng.random(persons) < MALE_SHARE
    region = region_codes(rng, persons, PERSON_ORIGIN_SHARES)
    identifiers = resident_ids(rng, region, born, male)
    surnames, givens = person_name_parts(rng, male)
    homes = book.addresses(rng, region, dwellings=True)
    other_homes = book.addresses(rng, region, dwellings=True)
    counts = rng.geometric(1 / MEAN_RECORDS, size=persons)  # 1, 2, …: mean MEAN_RECORDS

    rows: list[dict[str, object]] = []
    for i in range(persons):
        person = _Person(
            str(surnames[i]),
            str(givens[i]),
            EPOCH + timedelta(days=int(born[i])),
            str(identifiers[i]),
            str(region[i]),
            homes[i],
            other_homes[i],
        )
        for nth in range(int(counts[i])):
            # A person's first record is clean: the one the others must be found against.
            hit = {c for c, rate in RATES.items() if rng.random() < rate} if nth else set()
            row = _record(rng, person, hit)
            rows.append({**row, "person": i, "corruptions": sorted(c.value for c in hit)})
    table = pl.DataFrame(
        rows,
        schema={
            "name": pl.String,
            "identifier": pl.String,
            "birth_date": pl.String,
            "region_code": pl.String,
            "address": pl.String,
            "person": pl.Int64,
            "corruptions": pl.List(pl.String),
        },
    )
    # Shuffled; record ids follow the new order, so they say nothing about the person.
    table = table[rng.permutation(table.height)].with_row_index("record_id", offset=1)
    table = table.with_columns(pl.col("record_id").cast(pl.Int64)).select(COLUMNS)
    return LinkageRecords(table, persons)

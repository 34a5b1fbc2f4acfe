"""The jurisdiction's subjects: adult residents and registered market entities.

Subjects are numbered 0 … persons-1 for persons, then persons … persons+organisations-1 for
organisations; every array here and in the behaviour model is indexed by that number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from faker import Faker

from candor.domain.identifiers import IdentifierScheme
from candor.domain.subjects import SubjectKind
from candor.synth.identifiers import (
    ENTERPRISE,
    FARMERS_COOPERATIVE,
    SOLE_TRADER,
    resident_ids,
    usccs,
)
from candor.synth.names import organisation_names, person_names
from candor.synth.places import (
    ORGANISATION_ORIGIN_SHARES,
    PERSON_ORIGIN_SHARES,
    AddressBook,
    region_codes,
)
from candor.synth.timeline import DAYS_PER_YEAR, Bools, Days, Floats, day_number, years_before

# Adults by age band (years, inclusive lower, exclusive upper) and share: an ageing coastal city.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (18, 30, 0.15),
    (30, 40, 0.17),
    (40, 50, 0.17),
    (50, 60, 0.21),
    (60, 70, 0.17),
    (70, 86, 0.13),
)
OLDEST = 85
MALE_SHARE = 0.51
# 18 years hold four or five leap days: from this many days on, a person is surely of age.
ADULT_DAYS = 18 * 365 + 5
ENTITY_TYPES: tuple[tuple[str, float], ...] = (
    (ENTERPRISE, 0.85),
    (SOLE_TRADER, 0.10),
    (FARMERS_COOPERATIVE, 0.05),
)
# Registrations grow year on year: an enterprise's age is roughly exponential.
MEAN_ORGANISATION_AGE_YEARS = 8.0
OLDEST_ORGANISATION_YEARS = 40.0

SUBJECT_COLUMNS = (
    "subject_key",
    "kind",
    "identifier_scheme",
    "identifier",
    "name",
    "birth_date",
    "region_code",
    "address",
)


@dataclass(frozen=True)
class Population:
    """Who lives and trades in the jurisdiction."""

    persons: int
    organisations: int
    table: pl.DataFrame  # SUBJECT_COLUMNS, one row per subject in subject-number order
    born: Days  # birth date of a person, registration date of an organisation
    active_from: Days  # the first day the subject can have a record (18th birthday for persons)
    age_years: Floats  # age on the last day of the window

    @property
    def size(self) -> int:
        return self.persons + self.organisations

    @property
    def is_person(self) -> Bools:
        return np.arange(self.size) < self.persons


def birth_dates(rng: np.random.Generator, n: int, today: date) -> Days:
    bands = rng.choice(len(AGE_BANDS), size=n, p=[share for _, _, share in AGE_BANDS])
    low = np.array([lo for lo, _, _ in AGE_BANDS])[bands]
    high = np.array([hi for _, hi, _ in AGE_BANDS])[bands]
    age_days = ((low + rng.random(n) * (high - low)) * DAYS_PER_YEAR).astype(np.int64)
    # Exactly 18 to 85 years old today, calendar-wise.
    youngest = day_number(years_before(today, 18))
    oldest = day_number(years_before(today, OLDEST + 1)) + 1
    born: Days = np.clip(day_number(today) - age_days, oldest, youngest)
    return born


def build(
    rng: np.random.Generator, fake: Faker, persons: int, organisations: int, today: date
) -> Population:
    """Draw the persons and organisations, with unique valid identifiers."""
    book = AddressBook.draw(fake)

    born = birth_dates(rng, persons, today)
    male = rng.random(persons) < MALE_SHARE
    person_region = region_codes(rng, persons, PERSON_ORIGIN_SHARES)
    person_ids = resident_ids(rng, person_region, born, male)
    people = pl.DataFrame(
        {
            "subject_key": [f"P{i:07d}" for i in range(1, persons + 1)],
            "kind": SubjectKind.PERSON.value,
            "identifier_scheme": IdentifierScheme.CN_RESIDENT_ID.value,
            "identifier": person_ids.tolist(),
            "name": person_names(rng, male).tolist(),
            "birth_date": pl.Series(born, dtype=pl.Int64).cast(pl.Int32).cast(pl.Date),
            "region_code": person_region.tolist(),
            "address": book.addresses(rng, person_region, dwellings=True),
        }
    )

    entity = rng.choice(
        np.array([t for t, _ in ENTITY_TYPES]),
        size=organisations,
        p=[share for _, share in ENTITY_TYPES],
    )
    org_region = region_codes(rng, organisations, ORGANISATION_ORIGIN_SHARES)
    age = np.minimum(
        rng.exponential(MEAN_ORGANISATION_AGE_YEARS, organisations), OLDEST_ORGANISATION_YEARS
    )
    founded = day_number(today) - (age * DAYS_PER_YEAR).astype(np.int64)
    firms = pl.DataFrame(
        {
            "subject_key": [f"O{i:07d}" for i in range(1, organisations + 1)],
            "kind": SubjectKind.ORGANISATION.value,
            "identifier_scheme": IdentifierScheme.CN_USCC.value,
            "identifier": usccs(rng, org_region, entity).tolist(),
            "name": organisation_names(rng, org_region, entity),
            "birth_date": pl.Series([None] * organisations, dtype=pl.Date),
            "region_code": org_region.tolist(),
            "address": book.addresses(rng, org_region, dwellings=False),
        }
    )
    table = pl.concat([people, firms]).select(SUBJECT_COLUMNS)
    born_all = np.concatenate([born, founded])
    active_from = np.concatenate([born + ADULT_DAYS, founded])
    age_years = (day_number(today) - born_all) / DAYS_PER_YEAR
    return Population(persons, organisations, table, born_all, active_from, age_years)

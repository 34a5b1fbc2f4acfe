"""The five years a jurisdiction's records fall in, and drawing dates inside them.

Dates are whole days since 1970-01-01 in int64 arrays: numpy does arithmetic on them and Polars
reads them as ``Date`` columns without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

Days = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

EPOCH = date(1970, 1, 1)
DAYS_PER_YEAR = 365.25
YEARS = 5


def day_number(when: date) -> int:
    return (when - EPOCH).days


def years_before(when: date, years: int) -> date:
    """The same calendar day ``years`` earlier (28 February for a 29 February)."""
    try:
        return when.replace(year=when.year - years)
    except ValueError:
        return when.replace(year=when.year - years, day=28)


def calendar_year(days: Days) -> npt.NDArray[np.int64]:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def day_in_year(years: npt.NDArray[np.int64], month: int, day: int) -> Days:
    """The given calendar day (month 1-12) of each year."""
    months = ((years - 1970) * 12 + (month - 1)).astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64) + (day - 1)


@dataclass(frozen=True)
class Window:
    """The span of the jurisdiction's records: the five years up to and including today."""

    start: int
    today: int

    @classmethod
    def ending(cls, today: date, years: int = YEARS) -> Window:
        return cls(day_number(years_before(today, years)) + 1, day_number(today))

    def opening(self, active_from: Days) -> Days:
        """The first day each subject can have a record: the window's start, or later.

        Never after today: a subject who comes of age today can have a record today.
        """
        return np.clip(active_from, self.start, self.today)

    def years_active(self, active_from: Days) -> Floats:
        """Years of the window during which each subject can have records."""
        span = self.today - self.opening(active_from) + 1
        return np.clip(span, 0, None) / DAYS_PER_YEAR

    def uniform(self, rng: np.random.Generator, active_from: Days) -> Days:
        """A day drawn evenly from each subject's part of the window."""
        lo = self.opening(active_from)
        width = np.clip(self.today - lo + 1, 1, None)
        return lo + (rng.random(len(lo)) * width).astype(np.int64)

"""Building blocks of the record flows: events per subject, delays, amounts, choices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candor.synth.timeline import Bools, Days, Floats, Window

Ints = npt.NDArray[np.int64]
Strings = npt.NDArray[np.str_]


@dataclass(frozen=True)
class Events:
    """Things that happened to subjects and were decided on: one entry per future record."""

    subject: Ints
    occurred: Days
    decided: Days

    def __len__(self) -> int:
        return len(self.subject)

    def take(self, which: Bools | Ints) -> Events:
        return Events(self.subject[which], self.occurred[which], self.decided[which])


def events(
    rng: np.random.Generator,
    window: Window,
    active_from: Days,
    rate_per_year: Floats,
    lag_days: tuple[int, int],
) -> Events:
    """Poisson-many events per subject over its part of the window, each decided after a delay.

    Events whose decision would fall after today have not been decided yet and are left out.

    Args:
        active_from: per subject, the first day it can have a record.
        rate_per_year: per subject, expected events per year (0 for none).
        lag_days: the delay from occurrence to decision, drawn evenly from [low, high].
    """
    counts = rng.poisson(rate_per_year * window.years_active(active_from))
    subject = np.repeat(np.arange(len(active_from), dtype=np.int64), counts)
    occurred = window.uniform(rng, active_from[subject])
    decided = occurred + delays(rng, len(subject), lag_days)
    return Events(subject, occurred, decided).take(decided <= window.today)


def delays(rng: np.random.Generator, n: int, days: tuple[int, int]) -> Days:
    return rng.integers(days[0], days[1] + 1, size=n, dtype=np.int64)


def waits(rng: np.random.Generator, n: int, least: int, mean_extra: float) -> Days:
    """Delays of at least ``least`` days with a long tail: how long cases take to resolve."""
    return least + rng.exponential(mean_extra, n).astype(np.int64)


def amounts(
    rng: np.random.Generator, n: int, median: float, sigma: float, low: float, high: float
) -> Floats:
    """Money amounts (CNY, to the cent): lognormal around a median, within [low, high]."""
    values = np.clip(rng.lognormal(np.log(median), sigma, n), low, high)
    return np.round(values, 2)


def choose(rng: np.random.Generator, n: int, options: Mapping[str, float]) -> Strings:
    """``n`` draws from weighted options (weights need not sum to one)."""
    names = np.array(list(options))
    weights = np.array(list(options.values()), dtype=np.float64)
    return rng.choice(names, size=n, p=weights / weights.sum())


def recent_share(
    rng: np.random.Generator, decided: Days, today: int, within_days: int, share: float
) -> Bools:
    """A random share of the records decided in the last ``within_days`` (e.g. under review)."""
    return (decided > today - within_days) & (rng.random(len(decided)) < share)


def follow_ups(
    rng: np.random.Generator,
    decided: Days,
    share: float | Floats,
    least: int,
    mean_extra: float,
    today: int,
) -> tuple[Ints, Days]:
    """Which records get a later record referring to them, and its decision date.

    A follow-up not decided by today has not happened yet and is left out.

    Returns:
        The positions of the records followed up, and each follow-up's decision date.
    """
    chosen = np.flatnonzero(rng.random(len(decided)) < share)
    when = decided[chosen] + waits(rng, len(chosen), least, mean_extra)
    kept = when <= today
    return chosen[kept], when[kept]


def occurred_before(rng: np.random.Generator, decided: Days, earliest: Days, at_most: int) -> Days:
    """An occurrence date up to ``at_most`` days before each decision, not before ``earliest``."""
    back = (rng.random(len(decided)) * (at_most + 1)).astype(np.int64)
    occurred: Days = np.maximum(decided - back, np.minimum(earliest, decided))
    return occurred

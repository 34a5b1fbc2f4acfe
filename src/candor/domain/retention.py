"""Retention: when a record's personal data has been kept long enough to be erased.

A record type's retention (``candor.domain.registry.Retention``) counts a number of years from
the record's decision or from the end of the listings it entered its subject on. A record behind
a listing that has not ended — in force, announced, or with no end at all — is never past
retention, whatever its type says: the listing still relies on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from candor.domain.listings import effective_end
from candor.domain.registry import Retention, RetentionStart


def add_years(day: date, years: int) -> date:
    """``day`` ``years`` later (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def listing_end(listing: Mapping[str, Any]) -> date | None:
    """The first day a listing no longer applies, withdrawal included (None: no end yet)."""
    ends = [effective_end(dict(listing)), listing.get("withdrawn_on")]
    known = [d for d in ends if d is not None]
    return min(known) if known else None


def retention_ends(
    retention: Retention, decided_on: date, listings: Iterable[Mapping[str, Any]]
) -> date | None:
    """The first day the record's personal data is past retention, or None while a listing it
    entered its subject on has no end.

    ``listings``: every listing whose entry record is the record (or the first version of its
    decision), of any rulebook.
    """
    ends = [listing_end(item) for item in listings]
    if any(end is None for end in ends):
        return None
    known = [end for end in ends if end is not None]
    if retention.after is RetentionStart.LISTING_END:
        # Never from before the decision (a listing's dates may come from another record).
        return add_years(max([decided_on, *known]), retention.years)
    # From the decision, but never before a listing on it has ended.
    return max([add_years(decided_on, retention.years), *known])


def past_retention(
    retention: Retention | None,
    decided_on: date,
    listings: Iterable[Mapping[str, Any]],
    as_of: date,
) -> bool:
    """Whether a record's personal data is past retention on ``as_of`` (never without one)."""
    if retention is None:
        return False
    ends = retention_ends(retention, decided_on, listings)
    return ends is not None and ends <= as_of

"""When a listing is in force: from its start until its term ends or a trigger removes it."""

from __future__ import annotations

from datetime import date
from typing import Any


def effective_end(listing: dict[str, Any]) -> date | None:
    """The first day the listing no longer applies (None: it has no end)."""
    ends = [d for d in (listing["ends_on"], listing["removed_on"]) if d is not None]
    return min(ends) if ends else None


def in_force(listing: dict[str, Any], as_of: date) -> bool:
    end = effective_end(listing)
    return listing["starts_on"] <= as_of and (end is None or as_of < end)

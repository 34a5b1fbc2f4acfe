"""When a listing is in force: from its start until its term ends or a trigger removes it."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any


def effective_end(listing: dict[str, Any]) -> date | None:
    """The first day the listing no longer applies (None: it has no end)."""
    ends = [d for d in (listing["ends_on"], listing["removed_on"]) if d is not None]
    return min(ends) if ends else None


def in_force(listing: dict[str, Any], as_of: date) -> bool:
    end = effective_end(listing)
    return listing["starts_on"] <= as_of and (end is None or as_of < end)


class Phase(StrEnum):
    """Where a listing stands on a date, as its subject is told."""

    ANNOUNCED = "announced"  # decided, waiting for its advance warning to run
    IN_FORCE = "in_force"
    ENDED = "ended"  # its term ran, a trigger removed it, or it was withdrawn


def phase(listing: dict[str, Any], as_of: date) -> Phase:
    end = effective_end(listing)
    if listing.get("withdrawn_on") is not None or (end is not None and end <= as_of):
        return Phase.ENDED
    if listing["starts_on"] > as_of:
        return Phase.ANNOUNCED
    return Phase.IN_FORCE

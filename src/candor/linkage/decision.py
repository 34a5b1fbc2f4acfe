"""What to do with a record given its best candidate: link, ask a reviewer, or a new subject.

Pure: two thresholds on the match probability, declared once and checked when made. A wrong
link can list the wrong person, so only the upper band links without a person looking; the
band between the thresholds waits for review (and, until reviewed, moves no grade, listing or
measure — the services layer's rule, not this module's).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from candor.errors import InvalidInput


class Outcome(StrEnum):
    LINK = "link"  # the same subject: linked automatically
    REVIEW = "review"  # perhaps the same subject: a reviewer confirms or rejects the link
    NEW_SUBJECT = "new_subject"  # no candidate is likely enough: the record starts a subject


@dataclass(frozen=True)
class Thresholds:
    """``link``: at or above it, link automatically; ``review``: at or above it (and below
    ``link``), send to review; below it, a new subject."""

    link: float = 0.99
    review: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.review <= self.link <= 1.0:
            raise InvalidInput(
                f"linkage thresholds must satisfy 0 ≤ review ≤ link ≤ 1 "
                f"(review {self.review}, link {self.link})"
            )


def decide(match_probability: float | None, thresholds: Thresholds) -> Outcome:
    """The outcome for a record whose best candidate has ``match_probability`` (None: no
    candidate was found at all)."""
    if match_probability is None or match_probability < thresholds.review:
        return Outcome.NEW_SUBJECT
    if match_probability >= thresholds.link:
        return Outcome.LINK
    return Outcome.REVIEW

"""Objections and appeals: the states an objection goes through, and who may move it.

filed → in review → decided (upheld / partly upheld / rejected, with reasons) → appealed →
final. A decided objection that is not appealed within the appeal period becomes final. The
reviewer of an appeal must differ from the reviewer who decided first: nobody reviews their
own decision. These rules are candor's own (due process as the brief sets it out), kept pure
so that the API, the CLI and the tests apply the same ones.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from candor.errors import Conflict, Forbidden, InvalidInput


class State(StrEnum):
    FILED = "filed"
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    APPEALED = "appealed"
    FINAL = "final"


class Decision(StrEnum):
    UPHELD = "upheld"
    PARTLY_UPHELD = "partly_upheld"
    REJECTED = "rejected"


OPEN = (State.FILED, State.IN_REVIEW, State.APPEALED)  # checks carry `disputed` meanwhile
ABOUT = ("record", "listing", "rating")
STATEMENT_MAX = 10_000
REASONS_MAX = 10_000


def text(value: str | None, field: str, limit: int) -> str:
    """A statement or reasons: required, plain text, bounded."""
    stated = (value or "").strip()
    if not stated:
        raise InvalidInput(f"{field}: required — say what is wrong and why")
    if len(stated) > limit:
        raise InvalidInput(f"{field}: at most {limit:,} characters")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in stated):
        raise InvalidInput(f"{field}: plain text only (no control characters)")
    return stated


def decision(value: str) -> Decision:
    try:
        return Decision(value)
    except ValueError:
        raise InvalidInput(
            f"decision: expected one of {', '.join(d.value for d in Decision)}"
        ) from None


def may_take(state: State) -> None:
    if state is not State.FILED:
        raise Conflict(f"the objection is {state.value}; only a filed one can be taken in review")


def may_decide(state: State, reviewer: str, taken_by: str | None) -> None:
    if state not in (State.FILED, State.IN_REVIEW):
        raise Conflict(f"the objection is {state.value}; it was decided already")
    if taken_by is not None and taken_by != reviewer:
        raise Forbidden(f"the objection is in review by {taken_by}")


def may_appeal(state: State, decided_on: date, today: date, appeal_days: int) -> None:
    if state is not State.DECIDED:
        raise Conflict(f"the objection is {state.value}; only a decided one can be appealed")
    if today > decided_on + timedelta(days=appeal_days):
        raise Conflict(f"the appeal period of {appeal_days} days after the decision has passed")


def may_decide_appeal(state: State, reviewer: str, first_reviewer: str | None) -> None:
    if state is not State.APPEALED:
        raise Conflict(f"the objection is {state.value}; there is no appeal to decide")
    if reviewer == first_reviewer:
        raise Forbidden(
            "the reviewer of an appeal must differ from the one who decided the objection"
        )


def corrects(first: Decision | None, appeal: Decision | None) -> bool:
    """Whether the outcome overturns what was objected to: upheld in full, at first or on
    appeal. A partly upheld objection leaves the record as it is and says in its reasons what
    the reviewer found (a source sends the correction it calls for)."""
    return Decision.UPHELD in (first, appeal)

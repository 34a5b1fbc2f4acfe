"""Credit repair: the course of an application for early removal from a list, and its rules.

filed → in review → approved | refused (with reasons). A subject may apply only once the
minimum publicity period (the list's, or the listing's entry's own ``repair_after``) has run from
the listing's start, and only for a list whose rulebook allows repair; the application carries
proof of performance (a statement, attachments, or both). Approval is a record that ends the
listing the way any removal trigger does. The rules are pure, so that the API, the CLI and the
tests apply the same ones.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from candor.domain.rulebook import ListSpec
from candor.errors import Conflict, Forbidden, InvalidInput


class State(StrEnum):
    FILED = "filed"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REFUSED = "refused"


class Decision(StrEnum):
    APPROVED = "approved"
    REFUSED = "refused"


OPEN = (State.FILED, State.IN_REVIEW)
STATEMENT_MAX = 10_000
REASONS_MAX = 10_000


def possible_from(spec: ListSpec, criterion: int, starts_on: date) -> date:
    """The first day a subject listed from ``starts_on`` by entry ``criterion`` may apply for
    early removal."""
    minimum = spec.repair_minimum(criterion)
    if minimum is None:
        raise ValueError("the list allows no repair")
    return minimum.after(starts_on)


def may_apply(list_name: str, spec: ListSpec, criterion: int, starts_on: date, today: date) -> None:
    """Whether an application may be made today for a listing by entry ``criterion`` that
    started on ``starts_on``."""
    if spec.repair is None:
        raise Conflict(
            f"the list {list_name} allows no early removal (its rulebook sets no repair); the "
            "listing ends when its term runs out or a removal trigger is recorded"
        )
    opens = possible_from(spec, criterion, starts_on)
    if today < opens:
        raise Conflict(
            f"an application for early removal from {list_name} is possible from {opens}: the "
            f"minimum publicity period of {spec.repair_minimum(criterion)} from the listing's "
            f"start on {starts_on} has not run"
        )


def statement(value: str | None) -> str:
    """The statement of performance: optional (attachments may be the proof), plain text,
    bounded."""
    stated = (value or "").strip()
    if len(stated) > STATEMENT_MAX:
        raise InvalidInput(f"statement: at most {STATEMENT_MAX:,} characters")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in stated):
        raise InvalidInput("statement: plain text only (no control characters)")
    return stated


def has_proof(stated: str, attachments: int) -> None:
    if not stated and attachments == 0:
        raise InvalidInput(
            "proof of performance: required — give a statement of how the obligation was met, "
            "attach proof (a receipt, a court's note of satisfaction), or both"
        )


def reasons(value: str | None) -> str:
    """A decision's reasons: required, plain text, bounded; the subject reads them."""
    stated = (value or "").strip()
    if not stated:
        raise InvalidInput("reasons: required — say why the application is approved or refused")
    if len(stated) > REASONS_MAX:
        raise InvalidInput(f"reasons: at most {REASONS_MAX:,} characters")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in stated):
        raise InvalidInput("reasons: plain text only (no control characters)")
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
        raise Conflict(f"the application is {state.value}; only a filed one can be taken in review")


def may_decide(state: State, reviewer: str, taken_by: str | None) -> None:
    if state not in OPEN:
        raise Conflict(f"the application is {state.value}; it was decided already")
    if taken_by is not None and taken_by != reviewer:
        raise Forbidden(f"the application is in review by {taken_by}")

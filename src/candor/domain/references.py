"""`refers_to`: which earlier record a correction, revocation or settlement may name.

A record may refer only to a record of the same source that was accepted before it — earlier
in the store, or earlier in the same file — about the same subject, and decided no later than
itself. Anything else would let one person's record settle or revoke another's finding, or a
typo in `refers_to` attach a record to a stranger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Referable:
    """What a reference is checked against: a record's subject and decision date, and its row
    when it comes from the same batch (None when it is already in the store)."""

    subject_id: int
    decided_on: date
    row: int | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    row: int
    source_record_id: str
    refers_to: str
    subject_id: int
    decided_on: date


@dataclass(frozen=True, slots=True)
class Refusal:
    row: int
    source_record_id: str
    reason: str


NOT_EARLIER = (
    "names no earlier record from this source (it must have been accepted before, or come "
    "earlier in the same file)"
)
OTHER_SUBJECT = (
    "names a record about another subject; a record can only correct, revoke or settle "
    "records about its own subject"
)
DECIDED_BEFORE = "is decided before the record it names"


def check_references(
    references: Iterable[Reference],
    stored: dict[str, Referable],
    batch: dict[str, Referable],
    refused: dict[str, int],
) -> tuple[list[str], list[Refusal]]:
    """Check references in file order; return the ids that stay and the refusals.

    Args:
        references: rows with a ``refers_to``, not yet refused for anything else.
        stored: records of this source already in the store, by source_record_id.
        batch: this batch's rows still going in, by source_record_id.
        refused: this batch's rows refused on other grounds, source_record_id → row.
    """
    refused = dict(refused)
    kept: list[str] = []
    refusals: list[Refusal] = []
    for ref in sorted(references, key=lambda r: r.row):
        if ref.source_record_id in refused:
            continue
        target = stored.get(ref.refers_to)
        in_batch = batch.get(ref.refers_to)
        earlier_here = (
            in_batch is not None
            and in_batch.row is not None
            and in_batch.row < ref.row
            # Refused by this loop (its own reference failed). Another row refused under the
            # same id is no matter: a rejected row is no record, and the id may be sent again,
            # fixed, further on.
            and refused.get(ref.refers_to) != in_batch.row
        )
        if target is None and earlier_here:
            target = in_batch
        reason: str | None = None
        if target is None:
            earlier = refused.get(ref.refers_to)
            reason = (
                f"names the record of row {earlier}, which was rejected"
                if earlier is not None and earlier < ref.row
                else NOT_EARLIER
            )
        elif target.subject_id != ref.subject_id:
            reason = OTHER_SUBJECT
        elif ref.decided_on < target.decided_on:
            reason = DECIDED_BEFORE
        if reason is None:
            kept.append(ref.source_record_id)
        else:
            # A refused row also refuses the rows after it that refer to it.
            refused[ref.source_record_id] = ref.row
            refusals.append(Refusal(ref.row, ref.source_record_id, reason))
    return kept, refusals

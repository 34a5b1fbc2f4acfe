"""A reject: one reason one row of a record file was not accepted."""

from __future__ import annotations

from dataclasses import dataclass

# The `field` of a reject about the row as a whole rather than one of its fields.
ROW_FIELD = "(row)"


@dataclass(frozen=True, slots=True, order=True)
class Reject:
    """Why a row was refused.

    ``row`` is the row's position in its file: for CSV the header is row 1 and records follow
    (blank lines are skipped and not counted); for JSON Lines it is the line number; for an API
    batch it is the record's 1-based position in the request.
    """

    row: int
    field: str
    reason: str
    source_record_id: str | None = None

"""Records: immutable facts about one subject from one source, in the CONTRACT's file format."""

from __future__ import annotations

from enum import StrEnum


class RecordStatus(StrEnum):
    FINAL = "final"
    UNDER_REVIEW = "under_review"
    OVERTURNED = "overturned"


# Columns of a record file, in the order the CONTRACT lists them. Attributes follow as
# `attr.<name>` (CSV) or inside an `attributes` object (JSON Lines).
RECORD_FIELDS: tuple[str, ...] = (
    "source_record_id",
    "identifier_scheme",
    "identifier",
    "name",
    "record_type",
    "occurred_on",
    "decided_on",
    "legal_basis",
    "status",
    "refers_to",
)
REQUIRED_FIELDS: frozenset[str] = frozenset(RECORD_FIELDS) - {"refers_to"}
# Every non-attribute column a record file may have. `subject_kind` is optional: it settles
# whether a subject identified under scheme `other` is a person or an organisation when the
# record type applies to both (the Chinese schemes' identifiers say it themselves).
TEXT_FIELDS: tuple[str, ...] = (*RECORD_FIELDS, "subject_kind")
ATTRIBUTE_PREFIX = "attr."
# The column that numbers rows as they stand in their file (see ``rejects.Reject.row``).
ROW_COLUMN = "row"

SOURCE_RECORD_ID_MAX = 128
NAME_MAX = 200
LEGAL_BASIS_MAX = 1000


def columns(attribute_names: frozenset[str]) -> list[str]:
    """Every column a record file may have under a registry declaring ``attribute_names``."""
    return [*TEXT_FIELDS, *(f"{ATTRIBUTE_PREFIX}{a}" for a in sorted(attribute_names))]

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
# Optional: settles whether a subject identified under scheme `other` is a person or an
# organisation when the record type applies to both. Ignored for the Chinese schemes, whose
# identifiers say it themselves.
OPTIONAL_FIELDS: tuple[str, ...] = ("refers_to", "subject_kind")
ATTRIBUTE_PREFIX = "attr."

SOURCE_RECORD_ID_MAX = 128
NAME_MAX = 200
LEGAL_BASIS_MAX = 1000

"""Subjects: the natural persons and organisations that records are about."""

from __future__ import annotations

from enum import StrEnum


class SubjectKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"
    # An identifier of scheme `other` on a record type that applies to both kinds: candor does not
    # guess. The kind is settled by the first later record whose type or `subject_kind` fixes it.
    UNKNOWN = "unknown"


# How a reason names a subject of each kind ("a person", "an organisation").
A_KIND: dict[str, str] = {
    SubjectKind.PERSON.value: "a person",
    SubjectKind.ORGANISATION.value: "an organisation",
    SubjectKind.UNKNOWN.value: "a subject of unknown kind",
}

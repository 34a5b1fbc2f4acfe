"""The records linkage compares, and the columns Splink sees for each kind of subject.

A caller hands in rows with the fields below (any may be missing or None except ``record_id``);
``prepare`` normalises them (``candor.linkage.normalise``) into the columns the comparisons
read. Raw values stay with the caller: the prepared table lives only in the linkage run's
in-memory database, and the trained model keeps no value from it (see ``model``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

import pyarrow as pa

from candor.errors import InvalidInput
from candor.linkage import normalise


class Kind(StrEnum):
    """What the records are about: the two kinds of subject, each with its own comparisons."""

    PERSON = "person"
    ORGANISATION = "organisation"


# The fields a caller may give, per kind, and what each is.
PERSON_FIELDS = {
    "record_id": "the record's own id, unique within the run",
    "name": "the full name as written: characters, pinyin or Latin, any order",
    "birth_date": "date of birth (ISO, YYYYMMDD or 1990年1月2日)",
    "region_code": "administrative division or post code of residence",
    "address": "the address as written",
    "identifier": "an identifier as received, possibly damaged or partial",
}
ORGANISATION_FIELDS = {
    "record_id": "the record's own id, unique within the run",
    "name": "the registered name, with or without its legal form",
    "region_code": "the registration region's division code",
    "representative": "the legal representative's name",
    "address": "the registered address",
    "identifier": "a registration code (unified social credit code) as received",
}
FIELDS = {Kind.PERSON: PERSON_FIELDS, Kind.ORGANISATION: ORGANISATION_FIELDS}

Row = Mapping[str, Any]


def _text(row: Row, field: str) -> str | None:
    value = row.get(field)
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):  # a missing value from a data frame
        return None
    return str(value)


def _tail(identifier: str | None) -> str | None:
    # The last four characters: what a masked identifier (110105********002X) or a partial one
    # quoted on a form still shows.
    return identifier[-4:] if identifier and len(identifier) >= 4 else None


def _birth_segment(identifier: str | None) -> str | None:
    # A resident identity number's birth date (characters 7-14): a damaged identifier mostly
    # keeps it, so a record without a birth date of its own can still be found by it. Used to
    # block, never compared: the birth date comparison reads only a birth date given as such.
    if identifier is None or len(identifier) < 17 or not identifier[6:14].isdigit():
        return None
    return identifier[6:14]


def _person(row: Row) -> dict[str, Any]:
    name = _text(row, "name")
    tokens = normalise.romanised_tokens(name)
    identifier = normalise.identifier(_text(row, "identifier"))
    return {
        "name_characters": normalise.name_characters(name),
        "name_romanised": normalise.joined(tokens),
        "name_key": normalise.sorted_key(tokens),
        "name_tokens": tokens or None,
        "birth_date": normalise.birth_date(_text(row, "birth_date")),
        "region_code": normalise.region_code(_text(row, "region_code")),
        "address": normalise.address(_text(row, "address")),
        "identifier": identifier,
        "identifier_tail": _tail(identifier),
        "identifier_birth": _birth_segment(identifier),
    }


def _organisation(row: Row) -> dict[str, Any]:
    representative = _text(row, "representative")
    identifier = normalise.identifier(_text(row, "identifier"))
    stripped = normalise.strip_legal_form(_text(row, "name"))
    return {
        # Compared like a person's name, once the legal form is gone.
        "name_characters": normalise.name_characters(stripped),
        "name_key": normalise.romanised_key(stripped),
        "region_code": normalise.region_code(_text(row, "region_code")),
        "representative_characters": normalise.name_characters(representative),
        "representative_key": normalise.romanised_key(representative),
        "address": normalise.address(_text(row, "address")),
        "identifier": identifier,
        "identifier_tail": _tail(identifier),
    }


_PREPARE: dict[Kind, Callable[[Row], dict[str, Any]]] = {
    Kind.PERSON: _person,
    Kind.ORGANISATION: _organisation,
}
_STRING_LIST = pa.list_(pa.string())
SCHEMAS = {
    Kind.PERSON: pa.schema(
        [("record_id", pa.string())]
        + [
            (c, _STRING_LIST if c == "name_tokens" else pa.string())
            for c in _person({})  # the derived columns, in one place
        ]
    ),
    Kind.ORGANISATION: pa.schema(
        [("record_id", pa.string())] + [(c, pa.string()) for c in _organisation({})]
    ),
}


def prepare(rows: Iterable[Row] | pa.Table, kind: Kind) -> pa.Table:
    """The comparison columns of ``rows`` (mappings, or a table with the kind's fields)."""
    if isinstance(rows, pa.Table):
        rows = rows.to_pylist()
    make = _PREPARE[kind]
    known = FIELDS[kind]
    prepared: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        if not known.keys() >= row.keys():  # a typo, or a table prepared twice
            unknown = sorted(set(row) - known.keys())
            raise InvalidInput(f"{kind.value} records have no field(s) {', '.join(unknown)}")
        record_id = _text(row, "record_id")
        if record_id is None:
            raise InvalidInput("every record given to linkage needs a record_id")
        if record_id in seen:
            raise InvalidInput(f"record_id {record_id!r} appears twice in one linkage run")
        seen.add(record_id)
        prepared.append({"record_id": record_id, **make(row)})
    return pa.Table.from_pylist(prepared, schema=SCHEMAS[kind])

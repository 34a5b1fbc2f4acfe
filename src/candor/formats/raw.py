"""The shape every reader produces: batches of rows as text columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from candor.domain.disclosure import token
from candor.domain.records import (
    ATTRIBUTE_PREFIX,
    RECORD_FIELDS,
    REQUIRED_FIELDS,
    ROW_COLUMN,
    TEXT_FIELDS,
)
from candor.domain.rejects import Reject
from candor.errors import InvalidInput


@dataclass
class RawBatch:
    """Rows read from a file, before their values are checked.

    ``frame`` has an Int64 ``row`` column and one String column per file column; an empty value
    is null. Rows the reader could not make sense of are absent from ``frame`` and listed in
    ``rejects``.
    """

    frame: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    position: int = 0  # bytes of the input consumed so far, for progress

    @property
    def rows_read(self) -> int:
        return self.frame.height + len({r.row for r in self.rejects})


# Byte-order marks of encodings other than UTF-8 (UTF-32's start like UTF-16's).
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def check_encoding(path: Path, *, origin: str) -> None:
    """Refuse a file that says it is UTF-16 (or UTF-32) before reading it as UTF-8.

    Read as UTF-8, every line of such a file is rejected one by one, or the header is reported
    as unknown columns; neither tells the source what is wrong.
    """
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith(_UTF16_BOMS):
        raise InvalidInput(
            f"{origin}: starts with a UTF-16 byte-order mark (bytes {head[:2].hex(' ')}); "
            "candor reads UTF-8 — save the file as UTF-8"
        )


def check_columns(columns: Iterable[str], attribute_names: frozenset[str], *, origin: str) -> None:
    """Refuse a header that lacks a required column or has one candor does not know.

    A misspelt column would otherwise be silently ignored and its data lost.
    """
    names = list(columns)
    if any("\x00" in name for name in names):
        # UTF-16 without a byte-order mark: every other byte of an ASCII header is NUL.
        raise InvalidInput(
            f"{origin}: the header holds NUL characters; is the file UTF-16? candor reads UTF-8 "
            "— save the file as UTF-8"
        )
    known = set(TEXT_FIELDS)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"{origin}: column {_shown(name)} appears twice in the header")
        seen.add(name)
        if name in known:
            continue
        if name.startswith(ATTRIBUTE_PREFIX):
            attr = name[len(ATTRIBUTE_PREFIX) :]
            if attr not in attribute_names:
                raise InvalidInput(
                    f"{origin}: column {_shown(name)}: no record type in the registry declares "
                    f"the attribute {_shown(attr)}"
                )
            continue
        raise InvalidInput(
            f"{origin}: unknown column {_shown(name)} in the header; expected the CONTRACT "
            f"columns ({', '.join(RECORD_FIELDS)}), subject_kind, and attr.<name> columns"
        )
    missing = sorted(REQUIRED_FIELDS - seen)
    if missing:
        raise InvalidInput(f"{origin}: the header lacks required column(s): {', '.join(missing)}")


def _shown(name: str) -> str:
    # A header cell may hold anything, an identifier included if the header row is missing.
    shown = token(name)
    return repr(shown) if shown is not None else "(not shown)"


def empty_frame(columns: Iterable[str]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {ROW_COLUMN: pl.Int64()}
    schema.update({c: pl.String() for c in columns})
    return pl.DataFrame(schema=schema)

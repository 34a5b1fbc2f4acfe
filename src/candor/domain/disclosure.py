"""What candor repeats back about a submitted value, and what it withholds.

Rejects and error messages go back to the source and into files, the store and logs. A value is
repeated there only when it cannot be a personal identifier or a name: a short token of ASCII
letters, digits and ``_ . -`` with few digits (a record-type name, a status, a column name). A
source's own record id is repeated unless it holds something shaped like an identifier. This is
the one place that decides; every reader and check calls it.
"""

from __future__ import annotations

import re

import polars as pl

from candor.domain.records import SOURCE_RECORD_ID_MAX

# More digits than this and a "token" may be an identifier in the wrong column.
TOKEN_MAX_DIGITS = 5
HARMLESS_PATTERN = r"^[A-Za-z0-9_.\-]{1,60}$"
# 17 digits and a check character: a resident ID, wherever it turns up.
RESIDENT_ID_SHAPE = r"(^|[^0-9])[0-9]{17}[0-9Xx]($|[^0-9])"
WITHHELD = "(value not shown)"

_TOKEN = re.compile(HARMLESS_PATTERN)
_RESIDENT_ID = re.compile(RESIDENT_ID_SHAPE)


def token(value: object) -> str | None:
    """``value`` when it is a harmless token, else None."""
    if not isinstance(value, str) or not _TOKEN.match(value):
        return None
    return value if sum(ch.isdigit() for ch in value) <= TOKEN_MAX_DIGITS else None


def quoted_token(col: pl.Expr) -> pl.Expr:
    """Column version of ``token``: the value in quotes, or ``WITHHELD``."""
    harmless = col.str.contains(HARMLESS_PATTERN) & (
        col.str.count_matches("[0-9]") <= TOKEN_MAX_DIGITS
    )
    return (
        pl.when(harmless).then(pl.format("'{}'", col)).otherwise(pl.lit(WITHHELD, dtype=pl.String))
    )


def source_record_id(value: object) -> str | None:
    """A source's record id fit to repeat in a reject, or None.

    Record ids often carry many digits (``CT-2023-0004512``), so the token rule is too strict
    for them; what is withheld is anything too long, unprintable, or holding 17 digits or a
    resident-ID-shaped run.
    """
    if not isinstance(value, str) or len(value) > SOURCE_RECORD_ID_MAX or not value.isprintable():
        return None
    if _RESIDENT_ID.search(value) or sum(ch.isdigit() for ch in value) >= 17:
        return None
    return value

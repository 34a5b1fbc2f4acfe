"""Identifier checks over whole columns (Polars expressions), for batch ingestion.

The same rules, in the same order and with the same reasons, as ``candor.domain.identifiers``;
a property test compares the two on generated identifiers. Checking a column at a time is what
lets ingestion keep up with the store: row-by-row Python would cost more than the insert itself.
"""

from __future__ import annotations

import unicodedata

import polars as pl

from candor.domain import identifiers as ids
from candor.domain.regions import PROVINCES

_RID_CHECK_VALUE = {ch: i for i, ch in enumerate(ids.RESIDENT_ID_CHECK_CHARS)}


def normalised(scheme: pl.Expr, raw: pl.Expr) -> pl.Expr:
    """Canonical identifier text (see ``identifiers.normalise``)."""
    text = raw.str.strip_chars(ids.BLANKS)
    return (
        pl.when(scheme == ids.IdentifierScheme.OTHER.value)
        .then(text.map_batches(_nfc, return_dtype=pl.String))
        .otherwise(text.str.to_uppercase())
    )


def _nfc(values: pl.Series) -> pl.Series:
    """NFC by Python's own ``unicodedata``, not Polars' (which may know a newer Unicode): both
    paths must produce the very same text, or one identifier would get two keyed hashes."""
    if not values.str.contains(r"[^\x00-\x7f]").any():
        return values  # ASCII is already NFC; almost every batch ends here
    return pl.Series(
        values.name,
        [v if v is None or v.isascii() else unicodedata.normalize("NFC", v) for v in values],
        dtype=pl.String,
    )


def _resident_id_check_ok(value: pl.Expr) -> pl.Expr:
    digits = [value.str.slice(i, 1).cast(pl.Int32, strict=False) for i in range(17)]
    total = pl.sum_horizontal([d * w for d, w in zip(digits, ids.RESIDENT_ID_WEIGHTS, strict=True)])
    given = value.str.slice(17, 1).replace_strict(_RID_CHECK_VALUE, default=-1)
    return (total % 11) == given


def _uscc_check_ok(value: pl.Expr) -> pl.Expr:
    chars = [
        value.str.slice(i, 1).replace_strict(ids.USCC_VALUES, default=0, return_dtype=pl.Int32)
        for i in range(17)
    ]
    total = pl.sum_horizontal([c * w for c, w in zip(chars, ids.USCC_WEIGHTS, strict=True)])
    given = value.str.slice(17, 1).replace_strict(
        ids.USCC_VALUES, default=-1, return_dtype=pl.Int32
    )
    return ((31 - total % 31) % 31) == given


def resident_id_birth_date(value: pl.Expr) -> pl.Expr:
    """The birth date a resident ID encodes (null where it is not a calendar date)."""
    digits = value.str.slice(6, 8)
    # Polars knows a year 0 (1 BC); Python's dates, and so the scalar check, do not.
    return pl.when(digits.str.slice(0, 4) != "0000").then(
        digits.str.strptime(pl.Date, "%Y%m%d", strict=False)
    )


def problem(scheme: pl.Expr, value: pl.Expr, *, today: pl.Expr) -> pl.Expr:
    """The reason a normalised identifier is invalid for its scheme, or null when it is valid.

    Args:
        scheme: the identifier_scheme column.
        value: the identifier column, already ``normalised``.
        today: a date literal; birth dates after it are refused.
    """
    length = value.str.len_chars()
    born = resident_id_birth_date(value)
    resident = (
        pl.when(length != ids.RESIDENT_ID_LENGTH)
        .then(pl.lit(ids.RID_LENGTH))
        .when(~value.str.contains(r"^[0-9]{17}[0-9X]$"))
        .then(pl.lit(ids.RID_SHAPE))
        .when(~value.str.slice(0, 2).is_in(list(PROVINCES)))
        .then(pl.lit(ids.RID_PROVINCE))
        .when(born.is_null())
        .then(pl.lit(ids.RID_BIRTH_DATE))
        .when((born < pl.lit(ids.EARLIEST_BIRTH_DATE)) | (born > today))
        .then(pl.lit(ids.RID_BIRTH_RANGE))
        .when(~_resident_id_check_ok(value))
        .then(pl.lit(ids.RID_CHECK))
    )
    uscc = (
        pl.when(length != ids.USCC_LENGTH)
        .then(pl.lit(ids.USCC_LENGTH_REASON))
        .when(~value.str.contains(f"^[{ids.USCC_ALPHABET}]+$"))
        .then(pl.lit(ids.USCC_SHAPE))
        .when(~value.str.slice(2, 6).str.contains(r"^[0-9]{6}$"))
        .then(pl.lit(ids.USCC_REGION))
        .when(~_uscc_check_ok(value))
        .then(pl.lit(ids.USCC_CHECK))
    )
    other = (
        pl.when(length == 0)
        .then(pl.lit(ids.EMPTY))
        .when(length > ids.OTHER_MAX_LENGTH)
        .then(pl.lit(ids.OTHER_TOO_LONG))
        .when(value.str.contains(ids.CONTROL_CHARS))
        .then(pl.lit(ids.OTHER_CONTROL))
        .when(value.str.contains(ids.CHINESE_SHAPE))
        .then(pl.lit(ids.OTHER_LOOKS_CHINESE))
    )
    return (
        pl.when(scheme == ids.IdentifierScheme.CN_RESIDENT_ID.value)
        .then(resident)
        .when(scheme == ids.IdentifierScheme.CN_USCC.value)
        .then(uscc)
        .when(scheme == ids.IdentifierScheme.OTHER.value)
        .then(other)
        .otherwise(pl.lit(ids.UNKNOWN_SCHEME))
    )


def region_code(scheme: pl.Expr, value: pl.Expr) -> pl.Expr:
    """The six-digit region code a valid Chinese identifier carries; null for `other`."""
    return (
        pl.when(scheme == ids.IdentifierScheme.CN_RESIDENT_ID.value)
        .then(value.str.slice(0, 6))
        .when(scheme == ids.IdentifierScheme.CN_USCC.value)
        .then(value.str.slice(2, 6))
    )


def birth_date(scheme: pl.Expr, value: pl.Expr) -> pl.Expr:
    """The birth date a valid resident ID carries; null for other schemes."""
    return pl.when(scheme == ids.IdentifierScheme.CN_RESIDENT_ID.value).then(
        resident_id_birth_date(value)
    )

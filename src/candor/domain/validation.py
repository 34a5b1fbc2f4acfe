"""Checks a batch of raw rows against the CONTRACT, the record-type registry and a mandate.

Every check is a Polars expression over whole columns: a reason where the value is wrong, null
where it is right. A row with any reason is rejected, with every reason it earned (so a source
fixes a row once, not once per field). What cannot be known from the batch alone — whether a
``refers_to`` target exists, whether an id was accepted before — is checked by the ingestion
service against the store.

Reasons quote a value only when it is a short token (a record-type name, a status); a value
that could be an identifier or a name is never repeated back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from candor.domain import disclosure
from candor.domain import identifier_columns as ic
from candor.domain.disclosure import quoted_token
from candor.domain.identifiers import (
    BLANKS,
    SCHEME_KINDS,
    IdentifierScheme,
)
from candor.domain.records import (
    ATTRIBUTE_PREFIX,
    LEGAL_BASIS_MAX,
    NAME_MAX,
    ROW_COLUMN,
    SOURCE_RECORD_ID_MAX,
    TEXT_FIELDS,
    RecordStatus,
)
from candor.domain.registry import AttributeSpec, AttributeType, RecordTypeSpec, Registry
from candor.domain.rejects import Reject
from candor.domain.resubmission import SAME_CONTENT, changed
from candor.domain.subjects import A_KIND, SubjectKind

EARLIEST_DATE = date(1900, 1, 1)
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
# Besides the C0 and C1 controls, text fields refuse Unicode's bidirectional embedding, override
# and isolate controls (U+202A-U+202E, U+2066-U+2069): they reorder how the text around them is
# shown ("Trojan Source"), so that a name or a record id displays as another one. Single-line
# fields also refuse the line and paragraph separators U+2028 and U+2029, line breaks as much as
# LF is.
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_CONTROL = f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}]"
_CONTROL_EXCEPT_TAB_NEWLINE = (  # CR too: CRLF is a newline
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]"
)
# ``disclosure.RESIDENT_ID_SHAPE`` with full-width digits too: an ID number typed in a Chinese
# input method's full-width mode (１１０１…Ｘ) is the same number, and would otherwise be stored in
# clear in a free-text field.
_RESIDENT_ID_ANY_WIDTH = r"(^|[^0-9０-９])[0-9０-９]{17}[0-9０-９XxＸｘ]($|[^0-9０-９])"

# Columns of a checked batch, in order. `identifier` is the normalised identifier in clear: the
# ingestion service replaces it by its keyed hash before anything is written.
CHECKED_COLUMNS: tuple[str, ...] = (
    ROW_COLUMN,
    "source_record_id",
    "identifier_scheme",
    "identifier",
    "subject_kind",
    "region_code",
    "birth_date",
    *SAME_CONTENT,
)


@dataclass(frozen=True)
class RecordRules:
    """What a batch is checked against: the registry, the source's mandate and today's date."""

    registry: Registry
    mandate: frozenset[str]
    today: date


@dataclass
class CheckedBatch:
    """The outcome of checking one batch."""

    records: pl.DataFrame  # valid rows in CHECKED_COLUMNS, in file order
    rejects: list[Reject] = field(default_factory=list)
    duplicates: int = 0  # rows repeating an earlier row of the same batch exactly


def _lit(text: str) -> pl.Expr:
    return pl.lit(text, dtype=pl.String)


def _first(*branches: tuple[pl.Expr, pl.Expr | str]) -> pl.Expr:
    """The reason of the first failing condition, or null."""
    chain: Any = None  # pl.Then, then pl.ChainedThen: one when/then chain evaluates once
    for condition, reason in branches:
        value = _lit(reason) if isinstance(reason, str) else reason
        chain = (
            pl.when(condition).then(value) if chain is None else chain.when(condition).then(value)
        )
    assert chain is not None
    result: pl.Expr = chain.otherwise(pl.lit(None, dtype=pl.String))
    return result


def _text_checks(
    col: pl.Expr, *, required: bool, max_length: int, control: str
) -> list[tuple[pl.Expr, pl.Expr | str]]:
    branches: list[tuple[pl.Expr, pl.Expr | str]] = []
    if required:
        branches.append((col.is_null(), "is required"))
    branches += [
        (col.str.len_chars() > max_length, f"is longer than {max_length} characters"),
        (col.str.contains(control), "contains control characters"),
    ]
    return branches


def _no_identifier_inside(col: pl.Expr) -> tuple[pl.Expr, str]:
    return (
        # A resident-ID-shaped run in a free-text field would store an identifier in clear.
        col.str.contains(_RESIDENT_ID_ANY_WIDTH),
        "must not contain a personal identifier (18-character ID numbers go in the "
        "identifier column only)",
    )


def _date_checks(col: pl.Expr, parsed: pl.Expr, today: date) -> list[tuple[pl.Expr, pl.Expr | str]]:
    return [
        (col.is_null(), "is required"),
        (~col.str.contains(_ISO_DATE) | parsed.is_null(), "is not a date in the form YYYY-MM-DD"),
        (parsed < pl.lit(EARLIEST_DATE), "is before 1900"),
        (parsed > pl.lit(today), "is in the future"),
    ]


def _parse_date(col: pl.Expr) -> pl.Expr:
    return col.str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _clean(frame: pl.DataFrame, attribute_columns: list[str]) -> pl.DataFrame:
    """Every column present, trimmed, with blank values null."""
    wanted = [*TEXT_FIELDS, *attribute_columns]
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in wanted if c not in frame.columns]
    frame = frame.with_columns(missing) if missing else frame
    trimmed = [pl.col(c).str.strip_chars(BLANKS) for c in wanted]
    frame = frame.with_columns(trimmed)
    return frame.with_columns(
        [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in wanted]
    )


def check_batch(raw: pl.DataFrame, rules: RecordRules) -> CheckedBatch:
    """Check every row of a raw batch; return the valid rows in canonical form and the rejects.

    Args:
        raw: a ``row`` column and text columns as the readers produce them.
        rules: the registry, the submitting source's mandate and today's date.
    """
    registry = rules.registry
    attribute_columns = sorted(
        {c for c in raw.columns if c.startswith(ATTRIBUTE_PREFIX)}
        | {f"{ATTRIBUTE_PREFIX}{a}" for a in registry.attribute_names}
    )
    frame = _clean(raw, attribute_columns)

    scheme = pl.col("identifier_scheme")
    frame = frame.with_columns(
        ic.normalised(scheme, pl.col("identifier")).alias("identifier"),
        _parse_date(pl.col("occurred_on")).alias("_occurred"),
        _parse_date(pl.col("decided_on")).alias("_decided"),
        _effective_kind(registry).alias("_kind"),
    )

    reasons = frame.select(
        pl.col(ROW_COLUMN),
        pl.col("source_record_id").alias("_srid"),
        *[expr.alias(name) for name, expr in _field_checks(registry, rules).items()],
    )
    rejects = _collect(reasons)

    attributes, attribute_rejects = _attributes(frame, registry, attribute_columns)
    rejects += attribute_rejects
    rejected_rows = {r.row for r in rejects}

    valid = (
        frame.join(attributes, on=ROW_COLUMN, how="left")
        .filter(~pl.col(ROW_COLUMN).is_in(list(rejected_rows)))
        .with_columns(
            pl.col("_kind").alias("subject_kind"),
            ic.region_code(scheme, pl.col("identifier")).alias("region_code"),
            ic.birth_date(scheme, pl.col("identifier")).alias("birth_date"),
            pl.col("_occurred").alias("occurred_on"),
            pl.col("_decided").alias("decided_on"),
        )
        .select(CHECKED_COLUMNS)
        .sort(ROW_COLUMN)
    )
    valid, duplicates, duplicate_rejects = _repeated_ids(valid)
    return CheckedBatch(valid, sorted(rejects + duplicate_rejects), duplicates)


def _effective_kind(registry: Registry) -> pl.Expr:
    """Person or organisation: from the scheme, else the row's subject_kind, else the type."""
    single_kind = {
        name: spec.subject_kinds[0].value
        for name, spec in registry.record_types.items()
        if len(spec.subject_kinds) == 1
    }
    by_type = pl.col("record_type").replace_strict(
        single_kind, default=SubjectKind.UNKNOWN.value, return_dtype=pl.String
    )
    stated = pl.col("subject_kind")
    return (
        pl.when(pl.col("identifier_scheme") == IdentifierScheme.CN_RESIDENT_ID.value)
        .then(_lit(SubjectKind.PERSON.value))
        .when(pl.col("identifier_scheme") == IdentifierScheme.CN_USCC.value)
        .then(_lit(SubjectKind.ORGANISATION.value))
        .when(stated.is_in([SubjectKind.PERSON.value, SubjectKind.ORGANISATION.value]))
        .then(stated)
        .otherwise(by_type)
    )


def _field_checks(registry: Registry, rules: RecordRules) -> dict[str, pl.Expr]:
    """One expression per field: the first reason that field fails, or null."""
    srid = pl.col("source_record_id")
    scheme = pl.col("identifier_scheme")
    record_type = pl.col("record_type")
    kind = pl.col("_kind")
    known_types = list(registry.record_types)
    kinds_of_type = {
        name: ",".join(k.value for k in spec.subject_kinds)
        for name, spec in registry.record_types.items()
    }
    allowed_kinds = record_type.replace_strict(kinds_of_type, default="", return_dtype=pl.String)
    schemes = [s.value for s in IdentifierScheme]
    statuses = [s.value for s in RecordStatus]
    scheme_kind = scheme.replace_strict(
        {s.value: k.value for s, k in SCHEME_KINDS.items() if k is not None},
        default=None,
        return_dtype=pl.String,
    )
    occurred, decided = pl.col("_occurred"), pl.col("_decided")
    today = pl.lit(rules.today)

    return {
        "source_record_id": _first(
            *_text_checks(srid, required=True, max_length=SOURCE_RECORD_ID_MAX, control=_CONTROL),
            _no_identifier_inside(srid),
        ),
        "identifier_scheme": _first(
            (scheme.is_null(), "is required"),
            (
                ~scheme.is_in(schemes),
                pl.format(
                    "unknown identifier scheme {}; expected cn_resident_id, cn_uscc or other",
                    quoted_token(scheme),
                ),
            ),
        ),
        "identifier": _first(
            (pl.col("identifier").is_null(), "is required"),
            (
                scheme.is_in(schemes),
                ic.problem(scheme, pl.col("identifier"), today=today),
            ),
        ),
        "name": _first(
            *_text_checks(pl.col("name"), required=True, max_length=NAME_MAX, control=_CONTROL),
            _no_identifier_inside(pl.col("name")),
        ),
        "record_type": _first(
            (record_type.is_null(), "is required"),
            (
                ~record_type.is_in(known_types),
                pl.format(
                    "unknown record type {}; it is not in the record-type registry",
                    quoted_token(record_type),
                ),
            ),
            (
                ~record_type.is_in(sorted(rules.mandate)),
                pl.format(
                    "record type {} is outside this source's mandate", quoted_token(record_type)
                ),
            ),
            (
                (kind != SubjectKind.UNKNOWN.value)
                & ~allowed_kinds.str.contains(kind, literal=True),
                pl.format(
                    "record type {} applies to {} only, but the identifier names {}",
                    quoted_token(record_type),
                    allowed_kinds.str.replace(",", "s or ") + "s",
                    kind.replace_strict(A_KIND, default="a subject", return_dtype=pl.String),
                ),
            ),
        ),
        "subject_kind": _first(
            (
                pl.col("subject_kind").is_not_null()
                & ~pl.col("subject_kind").is_in(
                    [SubjectKind.PERSON.value, SubjectKind.ORGANISATION.value]
                ),
                "must be person or organisation",
            ),
            (
                pl.col("subject_kind").is_not_null()
                & scheme_kind.is_not_null()
                & (pl.col("subject_kind") != scheme_kind),
                pl.format(
                    "contradicts the identifier scheme, which identifies {}",
                    scheme_kind.replace_strict(A_KIND, default="a subject", return_dtype=pl.String),
                ),
            ),
        ),
        "occurred_on": _first(*_date_checks(pl.col("occurred_on"), occurred, rules.today)),
        "decided_on": _first(
            *_date_checks(pl.col("decided_on"), decided, rules.today),
            (decided < occurred, "is before occurred_on"),
        ),
        "legal_basis": _first(
            *_text_checks(
                pl.col("legal_basis"),
                required=True,
                max_length=LEGAL_BASIS_MAX,
                control=_CONTROL_EXCEPT_TAB_NEWLINE,
            ),
            _no_identifier_inside(pl.col("legal_basis")),
        ),
        "status": _first(
            (pl.col("status").is_null(), "is required"),
            (
                ~pl.col("status").is_in(statuses),
                pl.format(
                    "{} is not a status; expected final, under_review or overturned",
                    quoted_token(pl.col("status")),
                ),
            ),
        ),
        "refers_to": _first(
            *_text_checks(
                pl.col("refers_to"),
                required=False,
                max_length=SOURCE_RECORD_ID_MAX,
                control=_CONTROL,
            ),
            _no_identifier_inside(pl.col("refers_to")),
            (pl.col("refers_to") == srid, "a record cannot refer to itself"),
        ),
    }


def _collect(reasons: pl.DataFrame) -> list[Reject]:
    """Rejects from a frame of (row, _srid, one reason column per field)."""
    long = reasons.unpivot(
        index=[ROW_COLUMN, "_srid"], variable_name="field", value_name="reason"
    ).drop_nulls("reason")
    srids = long["_srid"].to_list()
    return [
        Reject(row, fld, reason, disclosure.source_record_id(srid))
        for row, fld, reason, srid in zip(
            long[ROW_COLUMN].to_list(),
            long["field"].to_list(),
            long["reason"].to_list(),
            srids,
            strict=True,
        )
    ]


def _attribute_value(
    spec: AttributeSpec, col: pl.Expr
) -> tuple[pl.Expr, list[tuple[pl.Expr, pl.Expr | str]]]:
    """The typed value of an attribute column, and the checks on its text."""
    checks: list[tuple[pl.Expr, pl.Expr | str]] = []
    if spec.type is AttributeType.INTEGER:
        value = col.cast(pl.Int64, strict=False)
        checks.append(
            (~col.str.contains(r"^[+-]?[0-9]{1,18}$") | value.is_null(), "must be a whole number")
        )
    elif spec.type is AttributeType.DECIMAL:
        value = col.cast(pl.Float64, strict=False)
        significant = col.str.replace_all(r"[^0-9]", "").str.strip_chars_start("0").str.len_chars()
        checks += [
            (
                ~col.str.contains(r"^[+-]?([0-9]{1,15}(\.[0-9]{0,6})?|\.[0-9]{1,6})$")
                | value.is_null(),
                "must be a decimal number with at most 6 decimals, such as 1234.50",
            ),
            # Decimals are kept as binary floating point, exact to 15 significant digits.
            (significant > 15, "has more than 15 significant digits"),
        ]
    elif spec.type is AttributeType.BOOLEAN:
        value = col.str.to_lowercase().replace_strict(
            _BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean
        )
        checks.append((value.is_null(), "must be true or false"))
    elif spec.type is AttributeType.ENUM:
        value = col
        assert spec.values is not None
        checks.append((~col.is_in(list(spec.values)), f"must be one of: {', '.join(spec.values)}"))
    elif spec.type is AttributeType.DATE:
        value = _parse_date(col)
        checks.append(
            (~col.str.contains(_ISO_DATE) | value.is_null(), "is not a date in the form YYYY-MM-DD")
        )
    else:
        value = col
        checks += _text_checks(col, required=False, max_length=spec.string_limit, control=_CONTROL)
        checks.append(_no_identifier_inside(col))
    if spec.minimum is not None:
        checks.append((value < spec.minimum, f"is below the minimum {_number(spec.minimum)}"))
    if spec.maximum is not None:
        checks.append((value > spec.maximum, f"is above the maximum {_number(spec.maximum)}"))
    # A value that failed to parse must not also fail the range checks: guard them.
    guarded = [(col.is_not_null() & cond, reason) for cond, reason in checks]
    return value, guarded


def _number(x: float) -> str:
    return f"{int(x):,}" if x.is_integer() else f"{x:,}"


# `"name":null` members, for dropping: an attribute not given is absent, not null. Inside a JSON
# string every quote is escaped, so this cannot match text within a value.
_NULL_MEMBER = r'"[a-z0-9_]+":null,|,"[a-z0-9_]+":null|"[a-z0-9_]+":null'


def _attributes(
    frame: pl.DataFrame, registry: Registry, attribute_columns: list[str]
) -> tuple[pl.DataFrame, list[Reject]]:
    """Per record type: check its attributes and encode them as one JSON object per row."""
    rejects: list[Reject] = []
    encoded: list[pl.DataFrame] = []
    present = frame.get_column("record_type").drop_nulls().unique().to_list()
    for type_name in sorted(present):
        spec: RecordTypeSpec | None = registry.get(type_name)
        if spec is None:
            continue  # the record_type check already rejected these rows
        rows = frame.filter(pl.col("record_type") == type_name)
        checks: dict[str, pl.Expr] = {}
        named: dict[str, pl.Expr] = {}
        for column in attribute_columns:
            name = column[len(ATTRIBUTE_PREFIX) :]
            col = pl.col(column)
            attr = spec.attributes.get(name)
            if attr is None:
                checks[column] = _first(
                    (col.is_not_null(), f"is not an attribute of record type {type_name}")
                )
                continue
            value, branches = _attribute_value(attr, col)
            if attr.required:
                branches.insert(0, (col.is_null(), f"is required for record type {type_name}"))
            checks[column] = _first(*branches)
            named[name] = value.alias(name)
        # Keys in sorted order, whatever the file's column order: the stored object is then in
        # the ledger's canonical order, which lets `ledger verify` check most records with one
        # hash of the row as SQLite renders it, without parsing it (services.ledger._unmatched).
        values = [named[name] for name in sorted(named)]
        reasons = rows.select(
            pl.col(ROW_COLUMN),
            pl.col("source_record_id").alias("_srid"),
            *[e.alias(c) for c, e in checks.items()],
        )
        rejects += _collect(reasons)
        json = (
            pl.struct(values).struct.json_encode().str.replace_all(_NULL_MEMBER, "")
            if values
            else _lit("{}")
        )
        encoded.append(rows.select(pl.col(ROW_COLUMN), json.alias("attributes")))
    if not encoded:
        return pl.DataFrame(schema={ROW_COLUMN: pl.Int64(), "attributes": pl.String()}), rejects
    return pl.concat(encoded), rejects


def _repeated_ids(valid: pl.DataFrame) -> tuple[pl.DataFrame, int, list[Reject]]:
    """Later rows repeating an earlier row's source_record_id: exact repeats are duplicates,
    anything else is a conflicting row and is rejected. The earliest row is kept."""
    srid = pl.col("source_record_id")
    repeated = valid.filter(srid.is_duplicated())
    if repeated.is_empty():
        return valid, 0, []
    firsts = repeated.filter(srid.is_first_distinct()).rename({ROW_COLUMN: "first_row"})
    later = repeated.filter(~srid.is_first_distinct())
    different = changed(later, firsts, identity=("identifier_scheme", "identifier"))
    rejects = [
        Reject(
            row,
            "source_record_id",
            f"repeats the id of row {first} with different content; send a correction as a new "
            "record with refers_to",
            disclosure.source_record_id(value),
        )
        for row, first, value in different.join(
            firsts.select("source_record_id", "first_row"), on="source_record_id"
        )
        .select(ROW_COLUMN, "first_row", "source_record_id")
        .iter_rows()
    ]
    keep = valid.filter(~pl.col(ROW_COLUMN).is_in(later[ROW_COLUMN].to_list()))
    return keep, later.height - different.height, rejects

"""check_batch: every CONTRACT rule, one at a time, and what a reject may say.

Each single-rule test checks a batch of three rows where only the middle one breaks the rule: it
must earn exactly one reject, and the rows around it must come out exactly as they do alone.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import polars as pl
import pytest

from candor.domain import identifiers as ids
from candor.domain.registry import Registry, parse_registry
from candor.domain.rejects import Reject
from candor.domain.validation import CHECKED_COLUMNS, CheckedBatch, RecordRules, check_batch

TODAY = date(2024, 6, 1)

# Identifiers with check characters worked out by hand (see test_identifiers for the method).
RID = "11010519491231002X"  # GB 11643's example: born 1949-12-31 in 110105
RID_2 = "440524198001010013"
USCC = "91350100M000100Y43"  # GB 32100's example
NAME = "张三丰"

TYPED_REGISTRY = """
version: 1
record_types:
  test.typed:
    description: Every attribute type.
    category: civic
    subject_kinds: [person, organisation]
    attributes:
      count: {type: integer, minimum: -5, maximum: 10}
      ratio: {type: decimal, minimum: 0.5, maximum: 99.5}
      flag: {type: boolean}
      colour: {type: enum, values: [red, green]}
      note: {type: string, max_length: 5}
      text: {type: string}
      when: {type: date}
      must: {type: integer, required: true}
  test.plain:
    description: No attributes.
    category: civic
    subject_kinds: [organisation]
"""


def _shipped() -> Registry:
    text = resources.files("candor.resources").joinpath("record-types.yaml").read_text("utf-8")
    return parse_registry(text, origin="record-types.yaml")


SHIPPED = _shipped()
TYPED = parse_registry(TYPED_REGISTRY, origin="typed.yaml")


def rules(registry: Registry = SHIPPED, mandate: set[str] | None = None) -> RecordRules:
    return RecordRules(
        registry, frozenset(registry.record_types if mandate is None else mandate), TODAY
    )


def row(srid: str = "r", **fields: str | None) -> dict[str, str | None]:
    """A valid court.enforcement_order about a person, with fields overridden."""
    base: dict[str, str | None] = {
        "source_record_id": srid,
        "identifier_scheme": "cn_resident_id",
        "identifier": RID,
        "name": NAME,
        "record_type": "court.enforcement_order",
        "occurred_on": "2023-01-10",
        "decided_on": "2023-02-01",
        "legal_basis": "Civil Procedure Law Art. 247",
        "status": "final",
        "refers_to": None,
        "attr.case_no": "(2023)京0105执1号",
        "attr.amount": "12000.50",
    }
    base.update({k.replace("attr_", "attr."): v for k, v in fields.items()})
    return base


def typed_row(srid: str = "t", **attrs: str | None) -> dict[str, str | None]:
    fields = {f"attr.{k}": v for k, v in {"must": "1", **attrs}.items()}
    return row(
        srid,
        record_type="test.typed",
        **{"attr.case_no": None, "attr.amount": None},
        **fields,
    )


def frame(rows: list[dict[str, str | None]], first_row: int = 2) -> pl.DataFrame:
    columns = list(dict.fromkeys(c for r in rows for c in r))
    data: dict[str, Any] = {"row": list(range(first_row, first_row + len(rows)))}
    data.update({c: [r.get(c) for r in rows] for c in columns})
    schema = {"row": pl.Int64, **dict.fromkeys(columns, pl.String)}
    return pl.DataFrame(data, schema=schema)


def check(rows: list[dict[str, str | None]], the_rules: RecordRules | None = None) -> CheckedBatch:
    return check_batch(frame(rows), the_rules or rules())


def accepted(rows: list[dict[str, str | None]], the_rules: RecordRules | None = None) -> dict:
    """The one accepted record of a one-row batch, as a dict."""
    result = check(rows, the_rules)
    assert result.rejects == []
    assert result.records.height == 1
    return result.records.row(0, named=True)


def only_reject(
    bad: dict[str, str | None],
    field: str,
    reason: str,
    the_rules: RecordRules | None = None,
    good: tuple[dict[str, str | None], dict[str, str | None]] | None = None,
    srid: str | None = "r",
) -> None:
    """A batch (good, bad, good) gives exactly one reject, on row 3; rows 2 and 4 unchanged."""
    before, after = good or (row("g1"), row("g2", identifier=RID_2))
    result = check([before, bad, after], the_rules)
    assert result.rejects == [Reject(3, field, reason, srid)]
    assert result.records["row"].to_list() == [2, 4]
    alone = pl.concat([_alone(before, 2, the_rules), _alone(after, 4, the_rules)])
    assert result.records.equals(alone)
    assert result.duplicates == 0


_ALONE: dict[str, pl.DataFrame] = {}


def _alone(good: dict[str, str | None], number: int, the_rules: RecordRules | None) -> pl.DataFrame:
    """The records a good row gives when checked on its own (cached: checks are not free)."""
    the_rules = the_rules or rules()
    key = json.dumps(
        [good, number, id(the_rules.registry), sorted(the_rules.mandate), str(the_rules.today)]
    )
    if key not in _ALONE:
        _ALONE[key] = check_batch(frame([good], first_row=number), the_rules).records
    return _ALONE[key]


# --- accepted rows ------------------------------------------------------------------------------

# A valid value for each attribute of the shipped types, and the JSON value it must become.
ATTRIBUTE_VALUES: dict[str, tuple[str, Any]] = {
    "case_no": ("(2023)京0105执1号", "(2023)京0105执1号"),
    "amount": ("12000.50", 12000.5),
    "ground": ("3", 3),
    "aggravated": ("yes", True),
    "extension_years": ("2", 2),
    "not_listed_because": ("adequate_security", "adequate_security"),
    "months": ("4", 4),
    "kind": ("pyramid", "pyramid"),
    "severity": ("7", 7),
    "code": ("1625", "1625"),
    "hours": ("12.5", 12.5),
    "reason": ("无法联系", "无法联系"),
    "list": ("dishonest_debtors", "dishonest_debtors"),
    "application": ("r-3f2a", "r-3f2a"),
}
# market.admin_penalty's severity and area are enums.
PENALTY_VALUES: dict[str, tuple[str, Any]] = {
    "severity": ("heavy", "heavy"),
    "area": ("work_safety", "work_safety"),
    "amount": ("50000", 50000.0),
}


@pytest.mark.parametrize("record_type", sorted(SHIPPED.record_types))
def test_a_valid_row_of_each_record_type_is_accepted(record_type: str) -> None:
    spec = SHIPPED.record_types[record_type]
    values = PENALTY_VALUES if record_type == "market.admin_penalty" else ATTRIBUTE_VALUES
    is_person = any(k.value == "person" for k in spec.subject_kinds)
    fields: dict[str, str | None] = {"attr.case_no": None, "attr.amount": None}
    fields.update({f"attr.{name}": values[name][0] for name in spec.attributes})
    record = accepted(
        [
            row(
                "x-1",
                record_type=record_type,
                identifier_scheme="cn_resident_id" if is_person else "cn_uscc",
                identifier=RID.lower() if is_person else USCC,
                **fields,
            )
        ]
    )
    assert record["record_type"] == record_type
    assert record["subject_kind"] == ("person" if is_person else "organisation")
    assert record["identifier"] == (RID if is_person else USCC)
    assert record["region_code"] == ("110105" if is_person else "350100")
    assert record["birth_date"] == (date(1949, 12, 31) if is_person else None)
    assert record["occurred_on"] == date(2023, 1, 10)
    assert record["decided_on"] == date(2023, 2, 1)
    assert record["status"] == "final"
    assert record["refers_to"] is None
    attributes = json.loads(record["attributes"])
    expected = {name: values[name][1] for name in spec.attributes}
    assert {k: v for k, v in attributes.items() if v is not None} == expected
    assert set(attributes) <= set(spec.attributes)
    for name, value in expected.items():
        assert type(attributes[name]) is type(value), name


def test_accepted_records_have_the_checked_columns_in_order() -> None:
    result = check([row("a"), row("b", identifier=RID_2)])
    assert tuple(result.records.columns) == CHECKED_COLUMNS
    assert result.records.schema["row"] == pl.Int64
    assert result.records.schema["occurred_on"] == pl.Date
    assert result.records.schema["birth_date"] == pl.Date
    assert result.records["row"].to_list() == [2, 3]


def test_values_are_trimmed_and_blank_values_are_null() -> None:
    record = accepted(
        [
            row(
                "\u3000a-1 ",
                identifier=" 11010519491231002x\t",
                name="\u3000张三丰 ",
                status=" final",
                record_type="court.enforcement_order ",
                refers_to="   ",
                occurred_on=" 2023-01-10",
            )
        ]
    )
    assert record["source_record_id"] == "a-1"
    assert record["identifier"] == RID
    assert record["name"] == NAME
    assert record["refers_to"] is None
    assert record["occurred_on"] == date(2023, 1, 10)


def test_refers_to_another_record_is_kept() -> None:
    record = accepted([row("a-2", refers_to="a-1", status="overturned")])
    assert record["refers_to"] == "a-1"
    assert record["status"] == "overturned"


def test_legal_basis_may_span_lines() -> None:
    record = accepted([row(legal_basis="Civil Procedure Law\nArt. 247\tpara. 1")])
    assert record["legal_basis"] == "Civil Procedure Law\nArt. 247\tpara. 1"


def test_windows_line_breaks_in_legal_basis_are_not_control_characters() -> None:
    accepted([row(legal_basis="Civil Procedure Law\r\nArt. 247")])


def test_other_scheme_takes_its_kind_from_the_record_type_or_the_row() -> None:
    person_only = accepted(
        [
            row(
                identifier_scheme="other",
                identifier="P-1",
                record_type="traffic.drunk_driving",
                attr_case_no=None,
                attr_amount=None,
            )
        ]
    )
    assert person_only["subject_kind"] == "person"
    assert person_only["region_code"] is None
    assert person_only["birth_date"] is None
    undecided = accepted([row(identifier_scheme="other", identifier="P-1")])
    assert undecided["subject_kind"] == "unknown"
    stated = accepted(
        [row(identifier_scheme="other", identifier="P-1", subject_kind="organisation")]
    )
    assert stated["subject_kind"] == "organisation"
    # Stated and agreeing with the scheme is fine.
    assert accepted([row(subject_kind="person")])["subject_kind"] == "person"


def test_mandate_limits_record_types() -> None:
    accepted([row()], rules(mandate={"court.enforcement_order"}))


# --- one rule at a time -------------------------------------------------------------------------

TOO_LONG_SRID = "s" * 129


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"source_record_id": None}, "source_record_id", "is required"),
        ({"source_record_id": " \u3000 "}, "source_record_id", "is required"),
        ({"source_record_id": "a\x01b"}, "source_record_id", "contains control characters"),
        ({"identifier_scheme": None}, "identifier_scheme", "is required"),
        ({"identifier_scheme": "passport"}, "identifier_scheme",
         "unknown identifier scheme 'passport'; expected cn_resident_id, cn_uscc or other"),
        ({"identifier": None}, "identifier", "is required"),
        ({"identifier": "110105194912310021"}, "identifier", ids.RID_CHECK),
        ({"identifier": "11010519491231002"}, "identifier", ids.RID_LENGTH),
        ({"identifier": "99010519491231002X"}, "identifier", ids.RID_PROVINCE),
        ({"identifier": "11010519491331002X"}, "identifier", ids.RID_BIRTH_DATE),
        ({"identifier_scheme": "cn_uscc", "identifier": "91350100M000100Y42"}, "identifier",
         ids.USCC_CHECK),
        ({"identifier_scheme": "cn_uscc", "identifier": "91350100M000100Y4O"}, "identifier",
         ids.USCC_SHAPE),
        ({"identifier_scheme": "other", "identifier": "x" * 65}, "identifier",
         ids.OTHER_TOO_LONG),
        ({"identifier_scheme": "other", "identifier": "a\x00b"}, "identifier",
         ids.OTHER_CONTROL),
        ({"name": None}, "name", "is required"),
        ({"name": "张" * 201}, "name", "is longer than 200 characters"),
        ({"name": "张\x07三"}, "name", "contains control characters"),
        ({"name": "张\n三"}, "name", "contains control characters"),
        ({"record_type": None}, "record_type", "is required"),
        ({"record_type": "court.no_such_type"}, "record_type",
         "unknown record type 'court.no_such_type'; it is not in the record-type registry"),
        ({"occurred_on": None}, "occurred_on", "is required"),
        ({"occurred_on": "2023/01/10"}, "occurred_on", "is not a date in the form YYYY-MM-DD"),
        ({"occurred_on": "2023-1-10"}, "occurred_on", "is not a date in the form YYYY-MM-DD"),
        ({"occurred_on": "10.01.2023"}, "occurred_on", "is not a date in the form YYYY-MM-DD"),
        ({"occurred_on": "2023-01-10T00:00"}, "occurred_on",
         "is not a date in the form YYYY-MM-DD"),
        ({"occurred_on": "2023-02-29"}, "occurred_on", "is not a date in the form YYYY-MM-DD"),
        ({"occurred_on": "2023-13-01"}, "occurred_on", "is not a date in the form YYYY-MM-DD"),
        ({"occurred_on": "1899-12-31"}, "occurred_on", "is before 1900"),
        ({"decided_on": "2024-06-02"}, "decided_on", "is in the future"),
        ({"decided_on": "2023-01-09"}, "decided_on", "is before occurred_on"),
        ({"legal_basis": None}, "legal_basis", "is required"),
        ({"legal_basis": "L" * 1001}, "legal_basis", "is longer than 1000 characters"),
        ({"legal_basis": "Law\x00Art. 1"}, "legal_basis", "contains control characters"),
        ({"status": None}, "status", "is required"),
        ({"status": "FINAL"}, "status",
         "'FINAL' is not a status; expected final, under_review or overturned"),
        ({"status": "appealed"}, "status",
         "'appealed' is not a status; expected final, under_review or overturned"),
        ({"refers_to": "r"}, "refers_to", "a record cannot refer to itself"),
        ({"refers_to": "x" * 129}, "refers_to", "is longer than 128 characters"),
        ({"refers_to": "a\tb"}, "refers_to", "contains control characters"),
        ({"attr.case_no": None}, "attr.case_no",
         "is required for record type court.enforcement_order"),
        ({"attr.months": "3"}, "attr.months",
         "is not an attribute of record type court.enforcement_order"),
        ({"attr.amount": "-1"}, "attr.amount", "is below the minimum 0"),
        ({"attr.case_no": "c" * 65}, "attr.case_no", "is longer than 64 characters"),
    ],
)  # fmt: skip
def test_a_row_breaking_one_rule_gets_exactly_that_reject(
    overrides: dict[str, str | None], field: str, reason: str
) -> None:
    bad = row("r", **{k.replace(".", "_"): v for k, v in overrides.items()})
    # A source_record_id that is itself wrong is not repeated in the reject.
    only_reject(bad, field, reason, srid=None if field == "source_record_id" else "r")


def test_too_long_source_record_id() -> None:
    bad = row(TOO_LONG_SRID)
    result = check([row("g1"), bad])
    # Too long to repeat back, so the reject carries no source_record_id.
    assert result.rejects == [Reject(3, "source_record_id", "is longer than 128 characters", None)]


def test_date_boundaries_are_inclusive() -> None:
    accepted([row(occurred_on="1900-01-01", decided_on="2024-06-01")])
    accepted([row(occurred_on="2024-02-29", decided_on="2024-02-29")])


def test_outside_mandate() -> None:
    only_reject(
        row("r", record_type="finance.loan_default", attr_case_no=None),
        "record_type",
        "record type 'finance.loan_default' is outside this source's mandate",
        rules(mandate={"court.enforcement_order"}),
    )


def test_resident_id_on_an_organisation_only_type() -> None:
    only_reject(
        row("r", record_type="market.admin_penalty", attr_case_no=None, attr_amount="10",
            attr_severity="ordinary", attr_area="general"),
        "record_type",
        "record type 'market.admin_penalty' applies to organisations only, but the identifier "
        "names a person",
    )  # fmt: skip


def test_uscc_on_a_person_only_type() -> None:
    only_reject(
        row("r", record_type="finance.card_overdue_cycle", identifier_scheme="cn_uscc",
            identifier=USCC, attr_case_no=None, attr_months="2"),
        "record_type",
        "record type 'finance.card_overdue_cycle' applies to persons only, but the identifier "
        "names an organisation",
    )  # fmt: skip


def test_other_scheme_stated_organisation_on_a_person_only_type() -> None:
    only_reject(
        row("r", record_type="traffic.drunk_driving", identifier_scheme="other", identifier="O-1",
            subject_kind="organisation", attr_case_no=None, attr_amount=None),
        "record_type",
        "record type 'traffic.drunk_driving' applies to persons only, but the identifier "
        "names an organisation",
    )  # fmt: skip


def test_subject_kind_contradicting_the_scheme() -> None:
    only_reject(
        row("r", subject_kind="organisation"),
        "subject_kind",
        "contradicts the identifier scheme, which identifies a person",
    )
    only_reject(
        row("r", identifier_scheme="cn_uscc", identifier=USCC, subject_kind="person"),
        "subject_kind",
        "contradicts the identifier scheme, which identifies an organisation",
    )


@pytest.mark.parametrize("kind", ["robot", "Person", "unknown", "org"])
def test_invalid_subject_kind(kind: str) -> None:
    only_reject(
        row("r", identifier_scheme="other", identifier="O-1", subject_kind=kind),
        "subject_kind",
        "must be person or organisation",
    )


# --- attribute typing ---------------------------------------------------------------------------


def typed_attributes(**attrs: str | None) -> dict[str, Any]:
    record = accepted([typed_row(**attrs)], rules(TYPED))
    decoded: dict[str, Any] = json.loads(record["attributes"])
    return decoded


def test_typed_attributes_are_encoded_with_their_types() -> None:
    attributes = typed_attributes(
        count="-5", ratio="12.25", flag="TRUE", colour="red", note="abcde", text="自由文本",
        when="2024-02-29", must="0",
    )  # fmt: skip
    assert attributes == {
        "count": -5,
        "ratio": 12.25,
        "flag": True,
        "colour": "red",
        "note": "abcde",
        "text": "自由文本",
        "when": "2024-02-29",
        "must": 0,
    }
    assert typed_attributes()["must"] == 1
    assert {k for k, v in typed_attributes().items() if v is not None} == {"must"}


@pytest.mark.parametrize(
    ("text", "value"),
    [("7", 7), ("+3", 3), ("007", 7), ("-0", 0), ("10", 10), (" 4 ", 4)],
)
def test_integer_spellings(text: str, value: int) -> None:
    assert typed_attributes(count=text)["count"] == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("12.25", 12.25), (".5", 0.5), ("5.", 5.0), ("+1.5", 1.5), ("99.500000", 99.5), ("1", 1.0)],
)
def test_decimal_spellings(text: str, value: float) -> None:
    assert typed_attributes(ratio=text)["ratio"] == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("True", True), ("TRUE", True), ("1", True), ("yes", True), ("YES", True),
     ("false", False), ("False", False), ("0", False), ("no", False), ("No", False)],
)  # fmt: skip
def test_boolean_spellings(text: str, value: bool) -> None:
    assert typed_attributes(flag=text)["flag"] is value


@pytest.mark.parametrize(
    ("attribute", "text", "reason"),
    [
        ("count", "1.0", "must be a whole number"),
        ("count", "1e3", "must be a whole number"),
        ("count", "abc", "must be a whole number"),
        ("count", "٣", "must be a whole number"),
        ("count", "1 000", "must be a whole number"),
        ("count", "9" * 19, "must be a whole number"),
        ("count", "11", "is above the maximum 10"),
        ("count", "-6", "is below the minimum -5"),
        ("ratio", "1e2", "must be a decimal number with at most 6 decimals, such as 1234.50"),
        ("ratio", "1,5", "must be a decimal number with at most 6 decimals, such as 1234.50"),
        ("ratio", "NaN", "must be a decimal number with at most 6 decimals, such as 1234.50"),
        ("ratio", "inf", "must be a decimal number with at most 6 decimals, such as 1234.50"),
        ("ratio", "1.1234567", "must be a decimal number with at most 6 decimals, such as 1234.50"),
        ("ratio", "0.49", "is below the minimum 0.5"),
        ("ratio", "99.51", "is above the maximum 99.5"),
        ("flag", "y", "must be true or false"),
        ("flag", "2", "must be true or false"),
        ("flag", "是", "must be true or false"),
        ("colour", "Red", "must be one of: red, green"),
        ("colour", "blue", "must be one of: red, green"),
        ("note", "abcdef", "is longer than 5 characters"),
        ("note", "a\x01", "contains control characters"),
        ("text", "t" * 201, "is longer than 200 characters"),
        ("when", "2023-02-29", "is not a date in the form YYYY-MM-DD"),
        ("when", "2024/01/01", "is not a date in the form YYYY-MM-DD"),
        ("when", "20240101", "is not a date in the form YYYY-MM-DD"),
        ("must", None, "is required for record type test.typed"),
        ("must", "", "is required for record type test.typed"),
    ],
)
def test_attribute_rules(attribute: str, text: str | None, reason: str) -> None:
    only_reject(
        typed_row("r", **{attribute: text}),
        f"attr.{attribute}",
        reason,
        rules(TYPED),
        good=(typed_row("g1", count="2"), typed_row("g2", flag="no")),
    )


def test_attribute_bounds_are_inclusive() -> None:
    assert typed_attributes(count="-5", ratio="0.5")["ratio"] == 0.5
    assert typed_attributes(count="10", ratio="99.5")["count"] == 10
    assert typed_attributes(note="12345")["note"] == "12345"
    assert typed_attributes(text="t" * 200)["text"] == "t" * 200


def test_undeclared_attribute_with_a_value() -> None:
    only_reject(
        row("r", record_type="test.plain", identifier_scheme="cn_uscc", identifier=USCC,
            attr_case_no=None, attr_amount=None, attr_count="3"),
        "attr.count",
        "is not an attribute of record type test.plain",
        rules(TYPED),
        good=(typed_row("g1"), typed_row("g2")),
    )  # fmt: skip
    # A blank value in a column the type does not declare is not a value.
    record = accepted(
        [row("p", record_type="test.plain", identifier_scheme="cn_uscc", identifier=USCC,
             attr_case_no=None, attr_amount=None, attr_count=" ")],
        rules(TYPED),
    )  # fmt: skip
    assert json.loads(record["attributes"]) == {}


# --- several reasons, repeated ids --------------------------------------------------------------


def test_every_reason_of_a_row_is_reported() -> None:
    bad = row(
        "r",
        identifier="110105194912310021",
        name=None,
        occurred_on="2023-02-30",
        status="done",
        attr_amount="lots",
        attr_case_no=None,
    )
    result = check([row("g"), bad])
    assert sorted((r.row, r.field) for r in result.rejects) == [
        (3, "attr.amount"),
        (3, "attr.case_no"),
        (3, "identifier"),
        (3, "name"),
        (3, "occurred_on"),
        (3, "status"),
    ]
    assert result.rejects == sorted(result.rejects)
    assert all(r.source_record_id == "r" for r in result.rejects)
    assert result.records["row"].to_list() == [2]


def test_future_occurrence_also_fails_decided_before_occurred() -> None:
    result = check([row(occurred_on="2024-07-01", decided_on="2024-05-01")])
    assert {(r.field, r.reason) for r in result.rejects} == {
        ("occurred_on", "is in the future"),
        ("decided_on", "is before occurred_on"),
    }


def test_an_unparseable_date_does_not_also_fail_the_order_check() -> None:
    result = check([row(occurred_on="2023-02-30", decided_on="2023-01-01")])
    assert [(r.field, r.reason) for r in result.rejects] == [
        ("occurred_on", "is not a date in the form YYYY-MM-DD")
    ]


def test_identical_repeat_is_a_counted_duplicate() -> None:
    first = row("dup")
    again = row("dup", identifier=RID.lower(), name=" " + NAME)  # same after normalising
    result = check([first, row("other", identifier=RID_2), again])
    assert result.rejects == []
    assert result.duplicates == 1
    assert result.records["row"].to_list() == [2, 3]


def test_repeat_with_different_content_is_rejected_naming_the_first_row() -> None:
    result = check([row("dup"), row("x", identifier=RID_2), row("dup", attr_amount="99"),
                    row("dup")])  # fmt: skip
    assert result.rejects == [
        Reject(
            4,
            "source_record_id",
            "repeats the id of row 2 with different content; send a correction as a new record "
            "with refers_to",
            "dup",
        )
    ]
    assert result.duplicates == 1
    kept = result.records.filter(pl.col("source_record_id") == "dup")
    assert kept["row"].to_list() == [2]
    assert json.loads(kept["attributes"][0])["amount"] == 12000.5


def test_a_rejected_row_does_not_count_as_the_first_of_its_id() -> None:
    result = check([row("dup", status="nope"), row("dup")])
    assert [(r.row, r.field) for r in result.rejects] == [(2, "status")]
    assert result.records["row"].to_list() == [3]
    assert result.duplicates == 0


def test_an_empty_batch() -> None:
    result = check_batch(
        pl.DataFrame(schema={"row": pl.Int64, "source_record_id": pl.String}), rules()
    )
    assert result.records.height == 0
    assert tuple(result.records.columns) == CHECKED_COLUMNS
    assert result.rejects == []


# --- what a reject may repeat -------------------------------------------------------------------

SECRETS = (RID, RID.lower(), USCC, NAME, "Zhang Sanfeng", "13800138000", "E12345678")


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("field", ["identifier_scheme", "record_type", "status", "subject_kind"])
def test_misplaced_identifiers_and_names_are_never_echoed(field: str, secret: str) -> None:
    # A shifted column puts an identifier or a name where a token is expected.
    result = check([row(**{field: secret})])
    assert result.rejects, "the misplaced value must be refused"
    for reject in result.rejects:
        assert secret not in reject.reason
        assert secret.upper() not in reject.reason.upper()


@pytest.mark.parametrize("secret", SECRETS)
def test_bad_identifiers_and_names_are_never_echoed(secret: str) -> None:
    result = check(
        [
            row("a", identifier=secret),
            row("b", identifier_scheme="cn_uscc", identifier=secret),
            row("c", identifier_scheme="other", identifier=secret + "\x00"),
            row("d", name=secret + "\x07"),
            row("e", attr_amount=secret + "!"),
            row("f", attr_case_no=secret + "\x01"),
        ]
    )
    assert {r.row for r in result.rejects} >= {4, 5, 6, 7}
    for reject in result.rejects:
        assert secret not in reject.reason


def test_token_values_are_quoted() -> None:
    result = check(
        [
            row("a", record_type="court.unknown_thing"),
            row("b", status="under-review"),
            row("c", identifier_scheme="cn_passport"),
        ]
    )
    assert {r.reason for r in result.rejects} == {
        "unknown record type 'court.unknown_thing'; it is not in the record-type registry",
        "'under-review' is not a status; expected final, under_review or overturned",
        "unknown identifier scheme 'cn_passport'; expected cn_resident_id, cn_uscc or other",
    }


def test_non_token_values_are_withheld() -> None:
    result = check([row("a", status="终审"), row("b", record_type="court order")])
    assert {r.reason for r in result.rejects} == {
        "(value not shown) is not a status; expected final, under_review or overturned",
        "unknown record type (value not shown); it is not in the record-type registry",
    }


IDENTIFIER_INSIDE = (
    "must not contain a personal identifier (18-character ID numbers go in the identifier "
    "column only)"
)


@pytest.mark.parametrize(
    "text",
    [RID, f"张三 {RID}", f"ID:{RID.lower()}", f"{RID_2}号", f"({RID_2})"],
)
@pytest.mark.parametrize(
    "field", ["name", "legal_basis", "source_record_id", "refers_to", "attr.case_no"]
)
def test_resident_id_in_free_text_is_rejected(field: str, text: str) -> None:
    result = check([row("g"), row("r", **{field.replace(".", "_"): text})])
    srid = None if field == "source_record_id" else "r"
    assert result.rejects == [Reject(3, field, IDENTIFIER_INSIDE, srid)]
    assert result.records["row"].to_list() == [2]


def test_resident_id_in_a_string_attribute_is_rejected() -> None:
    only_reject(
        typed_row("r", text=f"see {RID}"),
        "attr.text",
        IDENTIFIER_INSIDE,
        rules(TYPED),
        good=(typed_row("g1"), typed_row("g2")),
    )


@pytest.mark.parametrize(
    "text", ["(2023)京0105执12345678号", "1" * 19, "1" * 16 + "X", "Art. 12345678901234567 8"]
)
def test_other_long_numbers_in_free_text_are_fine(text: str) -> None:
    accepted([row(legal_basis=text, attr_case_no=text[:64])])

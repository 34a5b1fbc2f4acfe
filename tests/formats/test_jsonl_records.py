"""The JSON Lines reader and API batches: one object per line, line numbers as rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from candor.domain.records import RECORD_FIELDS
from candor.domain.rejects import Reject
from candor.formats.jsonl_records import objects_batch, read_jsonl

ATTRIBUTES = frozenset({"case_no", "amount", "aggravated"})
RID = "11010519491231002X"


def record(srid: str, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "source_record_id": srid,
        "identifier_scheme": "cn_resident_id",
        "identifier": RID,
        "name": "张三",
        "record_type": "court.enforcement_order",
        "occurred_on": "2023-01-10",
        "decided_on": "2023-02-01",
        "legal_basis": "Civil Procedure Law Art. 247",
        "status": "final",
        "attributes": {"case_no": f"case-{srid}", "amount": "100.50"},
    }
    obj.update(fields)
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write(tmp_path: Path, lines: list[str] | bytes) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_bytes(
        lines if isinstance(lines, bytes) else "".join(f"{x}\n" for x in lines).encode()
    )
    return path


def read(path: Path, batch_rows: int = 1000) -> tuple[pl.DataFrame, list[Reject]]:
    batches = list(read_jsonl(path, attribute_names=ATTRIBUTES, batch_rows=batch_rows))
    frame = pl.concat([b.frame for b in batches]) if batches else pl.DataFrame()
    return frame, sorted(r for b in batches for r in b.rejects)


def read_lines(tmp_path: Path, lines: list[str] | bytes) -> tuple[pl.DataFrame, list[Reject]]:
    return read(write(tmp_path, lines))


def test_good_lines(tmp_path: Path) -> None:
    frame, rejects = read_lines(tmp_path, [dumps(record("a")), dumps(record("b", refers_to="a"))])
    assert rejects == []
    assert frame["row"].to_list() == [1, 2]
    assert frame["row"].dtype == pl.Int64
    assert frame["source_record_id"].to_list() == ["a", "b"]
    assert frame["name"].to_list() == ["张三", "张三"]
    assert frame["refers_to"].to_list() == [None, "a"]
    assert frame["attr.case_no"].to_list() == ["case-a", "case-b"]
    assert frame["attr.amount"].to_list() == ["100.50", "100.50"]
    assert frame["attr.aggravated"].to_list() == [None, None]
    # The same text columns as the CSV reader, plus subject_kind and every declared attribute.
    expected = {"row", *RECORD_FIELDS, "subject_kind"} | {f"attr.{a}" for a in ATTRIBUTES}
    assert set(frame.columns) == expected
    assert all(frame.schema[c] == pl.String for c in expected - {"row"})


def test_scalar_attributes_become_text(tmp_path: Path) -> None:
    obj = record("a", attributes={"case_no": 17, "amount": 1234.5, "aggravated": True})
    frame, rejects = read_lines(tmp_path, [dumps(obj)])
    assert rejects == []
    assert frame.row(0, named=True)["attr.case_no"] == "17"
    assert float(frame.row(0, named=True)["attr.amount"]) == 1234.5
    assert frame.row(0, named=True)["attr.aggravated"] == "true"
    obj = record("b", attributes={"aggravated": False, "amount": None})
    frame, _ = read_lines(tmp_path, [dumps(obj)])
    assert frame.row(0, named=True)["attr.aggravated"] == "false"
    assert frame.row(0, named=True)["attr.amount"] is None


def test_empty_and_null_values_are_null(tmp_path: Path) -> None:
    obj = record("a", name="", refers_to=None, attributes=None)
    obj.pop("status")
    frame, rejects = read_lines(tmp_path, [dumps(obj)])
    assert rejects == []
    row = frame.row(0, named=True)
    assert row["name"] is None
    assert row["refers_to"] is None
    assert row["status"] is None  # absent: validation says it is required
    assert row["attr.case_no"] is None


def test_invalid_json(tmp_path: Path) -> None:
    lines = [dumps(record("a")), "{not json", '{"source_record_id": "b",}', dumps(record("c"))]
    frame, rejects = read_lines(tmp_path, lines)
    assert frame["row"].to_list() == [1, 4]
    assert [(r.row, r.field) for r in rejects] == [(2, "(row)"), (3, "(row)")]
    assert all(r.reason.startswith("is not valid JSON") for r in rejects)
    assert all("not json" not in r.reason for r in rejects)  # the line is not repeated


def test_invalid_utf8(tmp_path: Path) -> None:
    content = (
        (dumps(record("a")) + "\n").encode()
        + dumps(record("b", name="Wang")).encode().replace(b"Wang", b"W\xffang")
        + b"\n"
        + (dumps(record("c")) + "\n").encode()
    )
    frame, rejects = read_lines(tmp_path, content)
    assert frame["row"].to_list() == [1, 3]
    assert rejects == [Reject(2, "(row)", "is not valid UTF-8 text")]


@pytest.mark.parametrize("line", ["[1, 2]", '"text"', "42", "null", "true"])
def test_a_line_that_is_not_an_object(tmp_path: Path, line: str) -> None:
    frame, rejects = read_lines(tmp_path, [dumps(record("a")), line])
    assert frame["row"].to_list() == [1]
    assert rejects == [Reject(2, "(row)", "is not a JSON object")]


def test_unknown_keys(tmp_path: Path) -> None:
    lines = [
        dumps(record("a", colour="blue")),
        dumps(record("b", **{"attr.amount": "3"})),
        dumps(record("c", row=5)),
        dumps(record("d")),
    ]
    frame, rejects = read_lines(tmp_path, lines)
    assert frame["row"].to_list() == [4]
    assert rejects == [
        Reject(1, "colour", "is not a record field", "a"),
        Reject(2, "attr.amount", "is not a record field", "b"),
        Reject(3, "row", "is not a record field", "c"),
    ]


@pytest.mark.parametrize("key", [RID + "\u0000", RID, "姓名", "k" * 65])
def test_a_key_that_could_be_an_identifier_is_not_repeated(tmp_path: Path, key: str) -> None:
    frame, rejects = read_lines(tmp_path, [dumps(record("a", **{key: "x"}))])
    assert frame.height == 0
    assert rejects == [Reject(1, "(unnamed key)", "is not a record field", "a")]
    obj = record("b", attributes={key: "x"})
    _, rejects = read_lines(tmp_path, [dumps(obj)])
    assert rejects == [
        Reject(1, "attr.(unnamed key)", "no record type in the registry declares it", "b")
    ]


@pytest.mark.parametrize(
    ("value", "text"), [(12345, "12345"), (0, "0"), (-7, "-7"), ("s-1", "s-1")]
)
def test_integers_are_taken_as_text(tmp_path: Path, value: Any, text: str) -> None:
    frame, rejects = read_lines(tmp_path, [dumps(record(value, refers_to=value))])
    assert rejects == []
    assert frame["source_record_id"].to_list() == [text]
    assert frame["refers_to"].to_list() == [text]


@pytest.mark.parametrize("value", [1.5, 2.0, True, False, [1], {"a": 1}, ["x"]])
@pytest.mark.parametrize("field", ["identifier", "name", "status", "occurred_on"])
def test_other_types_for_text_fields_are_refused(tmp_path: Path, field: str, value: Any) -> None:
    frame, rejects = read_lines(
        tmp_path, [dumps(record("a", **{field: value})), dumps(record("b"))]
    )
    assert frame["row"].to_list() == [2]
    assert rejects == [Reject(1, field, "must be a string", "a")]


def test_a_non_string_source_record_id_is_not_repeated(tmp_path: Path) -> None:
    frame, rejects = read_lines(tmp_path, [dumps(record(12, name=1.5)), dumps(record(1.5))])
    assert frame.height == 0
    assert rejects == [
        Reject(1, "name", "must be a string", None),
        Reject(2, "source_record_id", "must be a string", None),
    ]


@pytest.mark.parametrize("value", [[1, 2], {"nested": 1}, []])
def test_attributes_must_be_single_values(tmp_path: Path, value: Any) -> None:
    obj = record("a", attributes={"case_no": "c", "amount": value})
    frame, rejects = read_lines(tmp_path, [dumps(obj)])
    assert frame.height == 0
    assert rejects == [
        Reject(1, "attr.amount", "must be a single value, not a list or object", "a")
    ]


@pytest.mark.parametrize("value", [[], ["case_no"], "case_no=1", 3])
def test_attributes_must_be_an_object(tmp_path: Path, value: Any) -> None:
    frame, rejects = read_lines(tmp_path, [dumps(record("a", attributes=value))])
    assert frame.height == 0
    assert rejects == [Reject(1, "attributes", "must be a JSON object", "a")]


def test_unknown_attribute_names(tmp_path: Path) -> None:
    obj = record("a", attributes={"case_no": "c", "face": "x", "colour": 1})
    frame, rejects = read_lines(tmp_path, [dumps(obj)])
    assert frame.height == 0
    assert rejects == [
        Reject(1, "attr.colour", "no record type in the registry declares it", "a"),
        Reject(1, "attr.face", "no record type in the registry declares it", "a"),
    ]


def test_every_problem_of_a_line_is_reported(tmp_path: Path) -> None:
    obj = record("a", name=2.5, colour="x", attributes={"amount": [1], "face": 1})
    _, rejects = read_lines(tmp_path, [dumps(obj)])
    assert {r.field for r in rejects} == {"name", "colour", "attr.amount", "attr.face"}


def test_bom_and_crlf(tmp_path: Path) -> None:
    content = ("\ufeff" + dumps(record("a")) + "\r\n" + dumps(record("b")) + "\r\n").encode()
    frame, rejects = read_lines(tmp_path, content)
    assert rejects == []
    assert frame["source_record_id"].to_list() == ["a", "b"]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    lines = ["", dumps(record("a")), "   ", "\t", dumps(record("b")), "", "oops"]
    frame, rejects = read_lines(tmp_path, lines)
    assert frame["row"].to_list() == [2, 5]
    assert [r.row for r in rejects] == [7]


def test_an_empty_file(tmp_path: Path) -> None:
    assert list(read_jsonl(write(tmp_path, b""), attribute_names=ATTRIBUTES, batch_rows=5)) == []
    assert (
        list(read_jsonl(write(tmp_path, b"\n\n"), attribute_names=ATTRIBUTES, batch_rows=5)) == []
    )


def test_batching(tmp_path: Path) -> None:
    lines = [dumps(record(f"r{i}")) if i % 4 else "[]" for i in range(1, 12)]
    path = write(tmp_path, lines)
    batches = list(read_jsonl(path, attribute_names=ATTRIBUTES, batch_rows=3))
    assert all(b.frame.height + len(b.rejects) <= 3 for b in batches)
    rows = [n for b in batches for n in b.frame["row"].to_list()]
    assert rows == [n for n in range(1, 12) if n % 4]
    assert [r.row for b in batches for r in b.rejects] == [4, 8]
    assert sum(b.rows_read for b in batches) == 11
    assert [b.position for b in batches] == sorted(b.position for b in batches)
    assert batches[-1].position == path.stat().st_size
    ids = [s for b in batches for s in b.frame["source_record_id"].to_list()]
    assert ids == [f"r{i}" for i in range(1, 12) if i % 4]


def test_objects_batch_for_api_requests() -> None:
    objects = [record("a"), "not an object", record("c", colour=1), record("d", name="")]
    batch = objects_batch(objects, attribute_names=ATTRIBUTES)
    assert batch.frame["row"].to_list() == [1, 4]
    assert batch.frame["source_record_id"].to_list() == ["a", "d"]
    assert batch.frame["name"].to_list() == ["张三", None]
    assert batch.rejects == [
        Reject(2, "(row)", "is not a JSON object"),
        Reject(3, "colour", "is not a record field", "c"),
    ]
    assert batch.rows_read == 4


def test_objects_batch_of_nothing() -> None:
    batch = objects_batch([], attribute_names=ATTRIBUTES)
    assert batch.frame.height == 0
    assert batch.rejects == []
    assert batch.frame.schema["row"] == pl.Int64
    assert "attr.amount" in batch.frame.columns

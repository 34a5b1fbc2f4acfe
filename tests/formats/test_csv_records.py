"""The CSV reader: encodings, quoting, broken rows, header problems, batching, and row numbers
that agree with Python's own csv module (header row 1, blank lines not counted)."""

from __future__ import annotations

import csv
import io
from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candor.domain.records import RECORD_FIELDS
from candor.domain.registry import parse_registry
from candor.domain.rejects import Reject
from candor.domain.validation import RecordRules, check_batch
from candor.errors import InvalidInput
from candor.formats.csv_records import READ_AHEAD_BLOCKS, read_csv

ATTRIBUTES = frozenset({"case_no", "amount"})
COLUMNS = [*RECORD_FIELDS, "attr.case_no", "attr.amount"]
HEADER = ",".join(COLUMNS)
WIDTH = len(COLUMNS)  # 12
RID = "11010519491231002X"


def line(srid: str, name: str = "张三", **fields: str) -> str:
    """One data line with every column, values written as given (no quoting added)."""
    values = {
        "source_record_id": srid,
        "identifier_scheme": "cn_resident_id",
        "identifier": RID,
        "name": name,
        "record_type": "court.enforcement_order",
        "occurred_on": "2023-01-10",
        "decided_on": "2023-02-01",
        "legal_basis": "Civil Procedure Law Art. 247",
        "status": "final",
        "refers_to": "",
        "attr.case_no": f"case-{srid}",
        "attr.amount": "100.50",
        **fields,
    }
    return ",".join(values[c] for c in COLUMNS)


def write(tmp_path: Path, content: str | bytes, name: str = "records.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def read(
    path: Path, batch_rows: int = 1000, block_bytes: int | None = None
) -> tuple[pl.DataFrame, list[Reject]]:
    extra = {} if block_bytes is None else {"block_bytes": block_bytes}
    batches = list(read_csv(path, attribute_names=ATTRIBUTES, batch_rows=batch_rows, **extra))
    frames = [b.frame for b in batches if b.frame.height]
    frame = pl.concat(frames) if frames else pl.DataFrame(schema={"row": pl.Int64})
    return frame, sorted(r for b in batches for r in b.rejects)


def read_text(tmp_path: Path, content: str | bytes) -> tuple[pl.DataFrame, list[Reject]]:
    return read(write(tmp_path, content))


# --- encodings and quoting ----------------------------------------------------------------------


def test_plain_file(tmp_path: Path) -> None:
    frame, rejects = read_text(tmp_path, f"{HEADER}\n{line('a')}\n{line('b')}\n")
    assert rejects == []
    assert frame["row"].to_list() == [2, 3]
    assert frame["row"].dtype == pl.Int64
    assert frame["source_record_id"].to_list() == ["a", "b"]
    assert frame["name"].to_list() == ["张三", "张三"]
    assert set(frame.columns) == {"row", *COLUMNS}
    assert all(frame.schema[c] == pl.String for c in COLUMNS)


def test_bom_and_crlf(tmp_path: Path) -> None:
    text = f"\ufeff{HEADER}\r\n{line('a')}\r\n{line('b')}\r\n"
    frame, rejects = read_text(tmp_path, text)
    assert rejects == []
    assert frame["source_record_id"].to_list() == ["a", "b"]  # not "\ufeffsource_record_id"
    assert frame["attr.amount"].to_list() == ["100.50", "100.50"]  # no trailing "\r"


def test_last_line_without_line_break(tmp_path: Path) -> None:
    frame, rejects = read_text(tmp_path, f"{HEADER}\n{line('a')}\n{line('b')}")
    assert rejects == []
    assert frame["source_record_id"].to_list() == ["a", "b"]


def test_quoted_commas_doubled_quotes_and_line_breaks(tmp_path: Path) -> None:
    text = (
        f"{HEADER}\r\n"
        + line("a", name='"Wang, Wei"', legal_basis='"Law ""A"", Art. 1"')
        + "\r\n"
        + line("b", name='"two\nlines"', legal_basis='"x\r\ny"')
        + "\r\n"
        + line("c", name='""""')
        + "\r\n"
    )
    frame, rejects = read_text(tmp_path, text)
    assert rejects == []
    assert frame["row"].to_list() == [2, 3, 4]  # a quoted line break does not start a row
    assert frame["name"].to_list() == ["Wang, Wei", "two\nlines", '"']
    assert frame["legal_basis"].to_list()[:2] == ['Law "A", Art. 1', "x\r\ny"]


def test_a_quote_inside_an_unquoted_value_is_kept(tmp_path: Path) -> None:
    frame, rejects = read_text(tmp_path, HEADER + "\n" + line("a", name='Wang "Wei') + "\n")
    assert rejects == []
    assert frame["name"].to_list() == ['Wang "Wei']


def test_blank_values_are_null(tmp_path: Path) -> None:
    text = f"{HEADER}\n{line('a', name='', refers_to='')}\n{line('b', name=chr(34) * 2)}\n"
    frame, rejects = read_text(tmp_path, text)
    assert rejects == []
    assert frame["name"].to_list() == [None, None]
    assert frame["refers_to"].to_list() == [None, None]
    # Blanks that are not empty are kept for validation to trim.
    frame, _ = read_text(tmp_path, f"{HEADER}\n{line('a', name='  ')}\n")
    assert frame["name"].to_list() == ["  "]


def test_optional_subject_kind_column(tmp_path: Path) -> None:
    frame, rejects = read_text(
        tmp_path, f"{HEADER},subject_kind\n{line('a')},person\n{line('b')},\n"
    )
    assert rejects == []
    assert frame["subject_kind"].to_list() == ["person", None]


def test_columns_in_any_order_and_attributes_optional(tmp_path: Path) -> None:
    columns = list(reversed(RECORD_FIELDS))
    values = dict(zip(COLUMNS, line("a").split(","), strict=True))
    text = ",".join(columns) + "\n" + ",".join(values[c] for c in columns) + "\n"
    frame, rejects = read_text(tmp_path, text)
    assert rejects == []
    assert frame["source_record_id"].to_list() == ["a"]
    assert frame["identifier"].to_list() == [RID]


# --- broken rows --------------------------------------------------------------------------------


def test_wrong_field_counts_are_rejected_with_their_row_numbers(tmp_path: Path) -> None:
    text = (
        f"{HEADER}\n"
        f"{line('a')}\n"  # row 2
        "\n"
        "\n"
        "b,too,few\n"  # row 3
        f"{line('c')}\n"  # row 4
        f"{line('d')},extra\n"  # row 5
        "\n"
        f"{line('e')}\n"  # row 6
        "lonely\n"  # row 7
    )
    frame, rejects = read_text(tmp_path, text)
    assert frame["row"].to_list() == [2, 4, 6]
    assert frame["source_record_id"].to_list() == ["a", "c", "e"]
    assert rejects == [
        Reject(3, "(row)", f"expected {WIDTH} fields, found 3"),
        Reject(5, "(row)", f"expected {WIDTH} fields, found {WIDTH + 1}"),
        Reject(7, "(row)", f"expected {WIDTH} fields, found 1"),
    ]


def test_blank_lines_before_the_first_row(tmp_path: Path) -> None:
    frame, rejects = read_text(tmp_path, f"{HEADER}\n\n\r\n{line('a')}\n\nx,y\n")
    assert frame["row"].to_list() == [2]
    assert rejects == [Reject(3, "(row)", f"expected {WIDTH} fields, found 2")]


def test_unclosed_quote_swallows_the_rest_as_one_rejected_row(tmp_path: Path) -> None:
    text = f"{HEADER}\n{line('a')}\n{line('b', name=chr(34) + 'Wang')}\n{line('c')}\n{line('d')}\n"
    frame, rejects = read_text(tmp_path, text)
    assert frame["row"].to_list() == [2]
    assert len(rejects) == 1
    reject = rejects[0]
    assert (reject.row, reject.field) == (3, "(row)")
    assert "quote is probably left open" in reject.reason
    assert "runs over 3 lines" in reject.reason


def test_stray_quote_closing_later_keeps_the_rows_after_it(tmp_path: Path) -> None:
    # The open quote runs to the quote two lines down; the lines in between are one value.
    text = f"{HEADER}\n{line('a')}\n" + line("b", name='"Wang') + "\n" + 'x,y"\n' + f"{line('c')}\n"
    frame, rejects = read_text(tmp_path, text)
    assert frame["source_record_id"].to_list() == ["a", "c"]
    assert frame["row"].to_list() == [2, 4]
    assert [(r.row, r.field) for r in rejects] == [(3, "(row)")]
    assert "runs over 2 lines" in rejects[0].reason


def test_invalid_utf8_rejects_only_that_row(tmp_path: Path) -> None:
    content = (
        f"{HEADER}\n{line('a')}\n".encode()
        + line("b", name="Wang").encode().replace(b"Wang", b"W\xffang")
        + b"\n"
        + line("c", legal_basis="LB").encode().replace(b"LB", b"L\xc3")
        + b"\n"
        + f"{line('d')}\n".encode()
    )
    frame, rejects = read_text(tmp_path, content)
    assert frame["row"].to_list() == [2, 5]
    assert frame["source_record_id"].to_list() == ["a", "d"]
    assert rejects == [
        Reject(3, "name", "is not valid UTF-8 text"),
        Reject(4, "legal_basis", "is not valid UTF-8 text"),
    ]


def test_a_10_mb_value_is_read_and_then_rejected_for_length(tmp_path: Path) -> None:
    huge = "名" * (10 * 1024 * 1024 // 3 + 1)  # just over 10 MB of UTF-8
    text = f"{HEADER}\n{line('a')}\n{line('b', name=huge)}\n{line('c')}\n"
    path = write(tmp_path, text)
    assert path.stat().st_size > 10 * 1024 * 1024
    frame, rejects = read(path)
    assert rejects == []
    assert frame["row"].to_list() == [2, 3, 4]
    assert frame["name"][1] == huge
    text_registry = resources.files("candor.resources").joinpath("record-types.yaml")
    registry = parse_registry(text_registry.read_text("utf-8"), origin="record-types.yaml")
    rules = RecordRules(registry, frozenset(registry.record_types), date(2024, 6, 1))
    checked = check_batch(frame, rules)
    assert checked.rejects == [Reject(3, "name", "is longer than 200 characters", "b")]
    assert checked.records["row"].to_list() == [2, 4]


# --- header problems ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (HEADER.replace(",name,", ","), "lacks required column(s): name"),
        (HEADER.replace("source_record_id,", "").replace(",status", ""),
         "lacks required column(s): source_record_id, status"),
        (HEADER + ",colour", "unknown column 'colour'"),
        (HEADER.replace(",name,", ",Name,"), "unknown column 'Name'"),
        (HEADER.replace(",name,", ",name ,"), "unknown column"),
        (HEADER + ",name", "column 'name' appears twice"),
        (HEADER + ",attr.amount", "column 'attr.amount' appears twice"),
        (HEADER + ",attr.face", "column 'attr.face': no record type in the registry declares "
         "the attribute 'face'"),
        (HEADER + ",attr.", "no record type in the registry declares"),
    ],
)  # fmt: skip
def test_header_problems_name_the_column(tmp_path: Path, header: str, expected: str) -> None:
    path = write(tmp_path, f"{header}\n{line('a')}\n")
    with pytest.raises(InvalidInput) as caught:
        read(path)
    assert caught.value.detail.startswith("records.csv: ")
    assert expected in caught.value.detail


def test_a_missing_header_does_not_echo_the_identifier(tmp_path: Path) -> None:
    # The first data row taken for the header: its cells are not repeated back.
    path = write(tmp_path, line(RID) + "\n" + line("b") + "\n")
    with pytest.raises(InvalidInput) as caught:
        read(path)
    assert "unknown column" in caught.value.detail
    assert RID not in caught.value.detail


def test_a_header_that_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.encode() + b",attr.\xff\n" + line("a").encode() + b",x\n")
    with pytest.raises(InvalidInput, match="header is not valid UTF-8"):
        read(path)


@pytest.mark.parametrize("content", ["", "\ufeff", "\n\n\n"])
def test_an_empty_file(tmp_path: Path, content: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_text(tmp_path, content)
    assert caught.value.detail.startswith("records.csv: ")
    assert "empty" in caught.value.detail


def test_a_header_only_file_has_no_rows(tmp_path: Path) -> None:
    frame, rejects = read_text(tmp_path, f"{HEADER}\n")
    assert frame.height == 0
    assert rejects == []


# --- batching and blocks ------------------------------------------------------------------------


def test_batches_partition_the_file(tmp_path: Path) -> None:
    lines = [HEADER]
    for i in range(10):
        lines.append(line(f"r{i}"))
        if i % 4 == 0:
            lines.append("")
    path = write(tmp_path, "\n".join(lines) + "\n")
    batches = list(read_csv(path, attribute_names=ATTRIBUTES, batch_rows=3))
    assert [b.frame.height for b in batches] == [3, 3, 3, 1]
    rows = [n for b in batches for n in b.frame["row"].to_list()]
    assert rows == list(range(2, 12))
    ids = [s for b in batches for s in b.frame["source_record_id"].to_list()]
    assert ids == [f"r{i}" for i in range(10)]
    assert sum(b.rows_read for b in batches) == 10
    positions = [b.position for b in batches]
    assert positions == sorted(positions)
    assert positions[-1] == path.stat().st_size


def test_structural_rejects_are_reported_once_across_batches(tmp_path: Path) -> None:
    lines = [HEADER] + [line(f"r{i}") if i % 3 else f"bad{i},x" for i in range(12)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    batches = list(read_csv(path, attribute_names=ATTRIBUTES, batch_rows=2))
    rejects = [r.row for b in batches for r in b.rejects]
    assert sorted(rejects) == [2, 5, 8, 11]
    rows = [n for b in batches for n in b.frame["row"].to_list()]
    assert rows == [n for n in range(2, 14) if n not in {2, 5, 8, 11}]
    assert all(b.frame.height <= 2 for b in batches)


def test_small_blocks_give_the_same_rows_as_one_block(tmp_path: Path) -> None:
    # A big file is parsed a block at a time; rows, quoted line breaks and bad rows straddle
    # the block boundaries here.
    lines = [HEADER]
    for i in range(200):
        if i % 7 == 3:
            lines.append(f"bad{i},x")
        elif i % 5 == 1:
            lines.append(line(f"r{i}", name='"multi\nline, quoted"'))
        elif i % 11 == 0:
            lines.append("")
        else:
            lines.append(line(f"r{i}"))
    path = write(tmp_path, "\n".join(lines) + "\n")
    whole, whole_rejects = read(path)
    for block in (300, 1000, 4096):
        frame, rejects = read(path, batch_rows=17, block_bytes=block)
        assert rejects == whole_rejects, block
        assert frame.equals(whole), block
    assert whole.height + len(whole_rejects) == sum(1 for entry in lines[1:] if entry)


def test_an_unclosed_quote_in_a_big_file_stops_reading_after_the_rows_before_it(
    tmp_path: Path,
) -> None:
    lines = [HEADER, *(line(f"r{i}") for i in range(5)), line("open", name='"Wang')]
    lines += [line(f"s{i}") for i in range(100)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    rows: list[int] = []
    with pytest.raises(InvalidInput) as caught:
        for batch in read_csv(path, attribute_names=ATTRIBUTES, batch_rows=50, block_bytes=2000):
            rows += batch.frame["row"].to_list()
    assert rows == [2, 3, 4, 5, 6]
    assert "reading stopped after row 6" in caught.value.detail
    assert "quote is left open" in caught.value.detail


# --- agreement with Python's csv module ---------------------------------------------------------

FIELD_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(',"\n\r \t'),
        st.characters(codec="utf-8", exclude_characters="\x00"),
    ),
    max_size=12,
)
GOOD_ROW = st.lists(FIELD_TEXT, min_size=WIDTH, max_size=WIDTH)
BAD_ROW = (
    st.integers(1, WIDTH + 3)
    .filter(lambda n: n != WIDTH)
    .flatmap(lambda n: st.lists(FIELD_TEXT, min_size=n, max_size=n))
)
ENTRY = st.one_of(GOOD_ROW, GOOD_ROW, BAD_ROW, st.just(None))  # None: a blank line


def oracle(text: str) -> tuple[list[tuple[int, list[str]]], list[int]]:
    """(row number, fields) of good rows and row numbers of bad ones, per Python's csv."""
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if r != []]
    good, bad = [], []
    for number, fields in enumerate(records[1:], start=2):
        (good.append((number, fields)) if len(fields) == WIDTH else bad.append(number))
    return good, bad


def _csv_line(fields: list[str], terminator: str) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=terminator).writerow(fields)
    return out.getvalue()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(ENTRY, max_size=25),
    terminator=st.sampled_from(["\n", "\r\n"]),
    block=st.sampled_from([None, 200, 700]),
    batch_rows=st.integers(1, 8),
)
def test_row_numbers_agree_with_python_csv(
    tmp_path: Path,
    entries: list[list[str] | None],
    terminator: str,
    block: int | None,
    batch_rows: int,
) -> None:
    pieces = [_csv_line([*COLUMNS], terminator)]
    pieces += [terminator if e is None else _csv_line(e, terminator) for e in entries]
    text = "".join(pieces)
    path = write(tmp_path, text, "generated.csv")
    # A block must hold the longest row.
    block_bytes = None if block is None else max(block, 2 * max(len(p.encode()) for p in pieces))
    frame, rejects = read(path, batch_rows=batch_rows, block_bytes=block_bytes)

    good, bad = oracle(text)
    assert [r.row for r in rejects] == bad
    assert all(r.field == "(row)" for r in rejects)
    assert frame["row"].to_list() == [n for n, _ in good]
    got = frame.select(COLUMNS).rows() if frame.height else []
    assert got == [tuple(v if v != "" else None for v in fields) for _, fields in good]


def test_the_reader_stays_a_few_blocks_ahead_of_its_consumer(tmp_path: Path) -> None:
    # Streaming means memory bounded by the block size, not by the file: Arrow on its own would
    # pull the whole file in before the first batch is used.
    block = 64 << 10
    rows = [line(f"r{i:06d}") for i in range(40_000)]  # about 4 MiB, some 60 blocks
    path = write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n")
    batches = read_csv(path, attribute_names=ATTRIBUTES, batch_rows=500, block_bytes=block)

    first = next(batches)

    assert first.position <= (READ_AHEAD_BLOCKS + 1) * block < path.stat().st_size // 10
    positions = [b.position for b in batches]
    assert positions[-1] == path.stat().st_size  # and it does get to the end

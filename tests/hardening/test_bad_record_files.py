"""Hardening: a corpus of bad record files, ingested the way `candor ingest` ingests them.

Each case mixes bad rows with good ones in a CSV and a JSON Lines file, ingests the file with
``ingest_file`` (what the CLI calls; a few cases go through the CLI itself) into a real store, and
checks that:

- every bad row is rejected, its rejects naming its row, the fields at fault and why;
- every good row is accepted and stored exactly once;
- hostile strings (SQL and template injection) that are valid data are stored verbatim, and
  nothing they spell is executed: the tables are all there, the counts are what was accepted;
- nothing crashes with a traceback; a file that cannot be read at all is refused with an error
  that names the problem (the byte, the column, the encoding), and nothing of it is stored.

Rulebook conditions that try the same are refused before any SQL is written, naming the rule's
path in the file and the reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from candor.cli import app
from candor.domain.identifiers import resident_id_check_char
from candor.domain.records import RECORD_FIELDS
from candor.domain.registry import Registry
from candor.errors import InvalidInput, RulebookError
from candor.formats import csv_records
from candor.services.ingestion import IngestResult, ingest_file
from candor.services.rating import rate_subject, subject_id_for
from candor.services.registry import load_registry
from candor.services.rulebooks import activate, read_rulebook
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from candor.store.tables import ingestions, records, rulebooks, subjects
from candor.store.tables import rejects as rejects_table
from tests.conftest import TODAY
from tests.helpers import (
    COURT_TYPES,
    as_object,
    read_rejects,
    record,
    resident_id,
    stored_names,
    uscc,
)

PERSON_A = resident_id(1)
PERSON_B = resident_id(2)
ORG = uscc(1)
FINDING = "court.dishonest_debtor_finding"
TOMORROW = (TODAY + timedelta(days=1)).isoformat()

SQL_INJECTIONS = ("'; DROP TABLE records; --", "1 OR 1=1", "Robert'); DELETE FROM subjects;--")
TEMPLATE_INJECTIONS = ("{{7*7}}", "${7*7}", "{0.__class__}", "%s%s%n")
INJECTIONS = SQL_INJECTIONS + TEMPLATE_INJECTIONS
# Every column a CSV record file can have for the types the court may send.
ALL_COLUMNS = (*RECORD_FIELDS, "subject_kind", "attr.case_no", "attr.amount")


def _drop_closed_log_handlers() -> None:
    root = logging.getLogger()
    for handler in root.handlers[:]:
        stream = getattr(handler, "stream", None)
        if getattr(stream, "closed", False):
            root.removeHandler(handler)


@pytest.fixture(autouse=True)
def _no_stale_log_handlers() -> Iterator[None]:
    """Each `candor` run in a CliRunner (here, and in other test modules) points the root
    logger at the runner's stderr, closed when the run ends: a later log line would print
    "--- Logging error ---" and a traceback of the test's making, not candor's."""
    _drop_closed_log_handlers()
    yield
    _drop_closed_log_handlers()


# --- building files -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of a case: its values (CSV columns; attr.* become ``attributes`` in JSON Lines),
    and for a bad row, the fields its rejects must name with a part of each reason."""

    values: dict[str, Any]
    expect: dict[str, str] = field(default_factory=dict)
    jsonl_expect: dict[str, str] | None = None  # when JSON Lines says it otherwise
    jsonl_object: Any = None  # the JSON value to write instead of ``values``

    def expected(self, fmt: str) -> dict[str, str]:
        if fmt == "jsonl" and self.jsonl_expect is not None:
            return self.jsonl_expect
        return self.expect

    @property
    def srid(self) -> str:
        return str(self.values["source_record_id"])


def ok(srid: str, identifier: str = PERSON_A, **values: Any) -> Row:
    """A row that must be accepted: a court.enforcement_order unless ``values`` say otherwise."""
    return Row(record(srid, identifier, **values))


def bad(
    srid: str,
    expect: dict[str, str],
    *,
    jsonl: dict[str, str] | None = None,
    identifier: str = PERSON_B,
    **values: Any,
) -> Row:
    """A row that must be rejected, each field of ``expect`` named with its reason part."""
    return Row(record(srid, identifier, **values), expect, jsonl)


def finding(srid: str, expect: dict[str, str] | None = None, **attrs: str) -> Row:
    """A court.dishonest_debtor_finding; ``attrs`` are attribute values (``ground=…``)."""
    values = {"attr.ground": "2", "attr.aggravated": "false"}
    values.update({f"attr.{k}": v for k, v in attrs.items()})
    return Row(
        record(srid, PERSON_B, record_type=FINDING, **{"attr.amount": ""}, **values),
        expect or {},
    )


def csv_bytes(rows: list[Row], *, newline: str = "\n") -> bytes:
    columns = [c for c in ALL_COLUMNS if any(c in r.values for r in rows)]
    columns += sorted({c for r in rows for c in r.values} - set(columns))
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator=newline)
    writer.writeheader()
    writer.writerows(r.values for r in rows)
    return out.getvalue().encode("utf-8")


def jsonl_bytes(rows: list[Row], *, newline: str = "\n") -> bytes:
    lines = [
        orjson.dumps(r.jsonl_object if r.jsonl_object is not None else as_object(r.values))
        for r in rows
    ]
    return b"".join(line + newline.encode() for line in lines)


@dataclass(frozen=True)
class Case:
    """A file of rows; ``patches`` replace placeholders in its bytes (what no writer writes)."""

    rows: list[Row]
    formats: tuple[str, ...] = ("csv", "jsonl")
    patches: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=dict)
    newline: str = "\n"
    bom: bool = False

    def write(self, directory: Path, fmt: str) -> Path:
        writer = csv_bytes if fmt == "csv" else jsonl_bytes
        body = writer(self.rows, newline=self.newline)
        for old, new in self.patches.get(fmt, []):
            assert old in body, old
            body = body.replace(old, new)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"case.{fmt}"
        path.write_bytes((b"\xef\xbb\xbf" if self.bom else b"") + body)
        return path


def first_row(fmt: str) -> int:
    """The number of a file's first record: the header is row 1 of a CSV file."""
    return 2 if fmt == "csv" else 1


# --- checking outcomes --------------------------------------------------------------------------


@pytest.fixture
def court(store: Store, registry: Registry) -> str:
    add_source(store, registry, "court", COURT_TYPES)
    return "court"


def ingest(store: Store, settings: Settings, registry: Registry, path: Path) -> IngestResult:
    return ingest_file(store, settings, registry, path, "court", today=TODAY)


def stored_counts(store: Store) -> dict[str, int]:
    """How many times each source_record_id is stored."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(records.c.source_record_id, sa.func.count()).group_by(
                records.c.source_record_id
            )
        ).all()
    return {str(srid): int(n) for srid, n in rows}


def table_names(store: Store) -> set[str]:
    with store.read() as conn:
        return set(sa.inspect(conn).get_table_names())


def rejects_by_row(path: Path | None) -> dict[int, dict[str, str]]:
    assert path is not None
    found: dict[int, dict[str, str]] = defaultdict(dict)
    for reject in read_rejects(path):
        assert reject["field"], reject
        assert reject["reason"], reject
        found[int(reject["row"])][reject["field"]] = reject["reason"]
    return dict(found)


def assert_no_traceback(text: str) -> None:
    for sign in ("Traceback", "Exception ignored", "UnicodeDecodeError", "Error:"):
        assert sign not in text, text


def check_outcome(
    store: Store,
    result: IngestResult,
    rows: list[Row],
    fmt: str,
    *,
    before: set[str],
) -> dict[int, dict[str, str]]:
    """Every bad row rejected with its reasons, every good row stored once, tables intact."""
    first = first_row(fmt)
    wanted = {first + i: r.expected(fmt) for i, r in enumerate(rows) if r.expected(fmt)}
    good = [r.srid for r in rows if not r.expected(fmt)]
    found = rejects_by_row(result.rejects_path)

    assert set(found) == set(wanted), {"rejected": sorted(found), "expected": sorted(wanted)}
    for number, expect in wanted.items():
        for fld, part in expect.items():
            assert fld in found[number], (number, fld, found[number])
            assert part in found[number][fld], (number, fld, found[number][fld])
    assert (result.accepted, result.rejected, result.duplicates) == (len(good), len(wanted), 0)
    assert stored_counts(store) == dict.fromkeys(good, 1)
    # The store keeps the same rejects as the file.
    with store.read() as conn:
        kept = {(r.row, r.field) for r in conn.execute(sa.select(rejects_table))}
    assert kept == {(n, f) for n, fields in found.items() for f in fields}
    assert table_names(store) == before
    return found


# --- the corpus -------------------------------------------------------------------------------

UTF8 = "is not valid UTF-8 text"
ROW_UTF8 = {"(row)": UTF8}
CONTROL = "contains control characters"
NOT_A_DATE = "is not a date in the form YYYY-MM-DD"
DECIMAL = "must be a decimal number"
WHOLE = "must be a whole number"


def _wrong_check_char(identifier: str, alphabet: str) -> str:
    return identifier[:-1] + next(c for c in alphabet if c != identifier[-1])


def _resident_id_ending_in_x() -> str:
    for seq in range(1000):
        body = f"11010519800307{seq:03d}"[:17]
        if resident_id_check_char(body) == "X":
            return body + "x"  # lower case: accepted
    raise AssertionError("no resident ID ends in X")


CASES: dict[str, Case] = {
    # Bytes of another encoding inside a UTF-8 file: CSV names the cell, JSON Lines the line.
    "wrong-encoding": Case(
        [
            ok("g1"),
            bad("gb18030", {"name": UTF8}, jsonl=ROW_UTF8, name="@GB@"),
            bad("latin1", {"legal_basis": UTF8}, jsonl=ROW_UTF8, legal_basis="@L1@"),
            bad("continuation", {"attr.case_no": UTF8}, jsonl=ROW_UTF8, **{"attr.case_no": "@C@"}),
            bad("overlong", {"name": UTF8}, jsonl=ROW_UTF8, name="@OL@"),
            bad("surrogate", {"name": UTF8}, jsonl=ROW_UTF8, name="@SU@"),
            bad("cut-short", {"name": UTF8}, jsonl=ROW_UTF8, name="@CUT@"),
            ok("g2", name="名字"),
        ],
        patches={
            fmt: [
                (b"@GB@", "张三".encode("gb18030")),
                (b"@L1@", "Código Civil art. 1".encode("latin-1")),
                (b"@C@", b"(2025)\x80"),
                (b"@OL@", b"a\xc0\xafb"),  # "/" in two bytes: an overlong form
                (b"@SU@", b"a\xed\xa0\x80b"),  # a UTF-16 surrogate in UTF-8 (CESU-8)
                (b"@CUT@", b"a\xe5\xbc"),  # the first two of three bytes
            ]
            for fmt in ("csv", "jsonl")
        },
    ),
    # A row that is both in another encoding and has a field too many. pyarrow used to decode
    # such a row strictly before reporting it: a traceback, and the whole file refused.
    "wrong-encoding-and-field-count": Case(
        [ok("g1"), bad("gbk", {"(row)": "expected 12 fields, found 13"}, name="@GB@"), ok("g2")],
        formats=("csv",),
        patches={"csv": [(b"@GB@", "张,三".encode("gb18030"))]},
    ),
    "utf8-bom-is-utf8": Case([ok("g1"), ok("g2", name="李四")], bom=True),
    "crlf-line-ends": Case(
        [ok("g1"), ok("g2", legal_basis="Art. 1\r\nArt. 2"), ok("g3")], newline="\r\n"
    ),
    "quote-inside-an-unquoted-value-is-kept": Case(
        [ok("g1"), ok("g2", name="@Q@"), ok("g3")],
        formats=("csv",),
        patches={"csv": [(b"@Q@", b'Zh"ang')]},
    ),
    "unbalanced-quote-in-a-json-line": Case(
        [ok("g1"), bad("q", {"(row)": "is not valid JSON"}, name="@Q@"), ok("g2")],
        formats=("jsonl",),
        patches={"jsonl": [(b'"@Q@"', b'"Zh"ang"')]},
    ),
    "wrong-attribute-types": Case(
        [
            ok("g1"),
            bad("text-for-decimal", {"attr.amount": DECIMAL}, **{"attr.amount": "twelve"}),
            bad("exponent", {"attr.amount": DECIMAL}, **{"attr.amount": "1e5"}),
            bad("nan", {"attr.amount": DECIMAL}, **{"attr.amount": "NaN"}),
            bad("infinity", {"attr.amount": DECIMAL}, **{"attr.amount": "inf"}),
            bad("hex", {"attr.amount": DECIMAL}, **{"attr.amount": "0x10"}),
            bad("grouped", {"attr.amount": DECIMAL}, **{"attr.amount": "12,000"}),
            bad("full-width", {"attr.amount": DECIMAL}, **{"attr.amount": "１２３"}),
            bad("negative", {"attr.amount": "is below the minimum 0"}, **{"attr.amount": "-5"}),
            bad("16-digits", {"attr.amount": ""}, **{"attr.amount": "1234567890123456"}),
            finding("text-for-integer", {"attr.ground": WHOLE}, ground="two"),
            finding("decimal-for-integer", {"attr.ground": WHOLE}, ground="2.5"),
            finding("huge-integer", {"attr.ground": WHOLE}, ground="99999999999999999999"),
            finding("out-of-range", {"attr.ground": "is above the maximum 6"}, ground="7"),
            finding("not-a-boolean", {"attr.aggravated": "must be true or false"}, aggravated="2"),
            finding(
                "not-a-value",
                {"attr.not_listed_because": "must be one of"},
                not_listed_because="bribe",
            ),
            bad("missing", {"attr.case_no": "is required"}, **{"attr.case_no": ""}),
            bad(
                "undeclared",
                {"attr.ground": "is not an attribute of record type court.enforcement_order"},
                **{"attr.ground": "2"},
            ),
            finding("g2", ground="6", aggravated="yes"),
            ok("g3", **{"attr.amount": "0.000001"}),
        ]
    ),
    "impossible-dates": Case(
        [
            ok("g1"),
            bad("feb-30", {"occurred_on": NOT_A_DATE}, occurred_on="2023-02-30"),
            bad("feb-29-2023", {"occurred_on": NOT_A_DATE}, occurred_on="2023-02-29"),
            bad("month-13", {"decided_on": NOT_A_DATE}, decided_on="2023-13-01"),
            bad("zero", {"occurred_on": NOT_A_DATE}, occurred_on="0000-00-00"),
            bad("short", {"occurred_on": NOT_A_DATE}, occurred_on="2023-1-1"),
            bad("slashes", {"occurred_on": NOT_A_DATE}, occurred_on="01/02/2023"),
            bad("datetime", {"occurred_on": NOT_A_DATE}, occurred_on="2023-02-28T00:00:00"),
            bad("signed", {"occurred_on": NOT_A_DATE}, occurred_on="+2023-02-28"),
            bad(
                "decided-first",
                {"decided_on": "is before occurred_on"},
                occurred_on="2024-03-01",
                decided_on="2024-02-28",
            ),
            bad(
                "future",
                {"occurred_on": "is in the future", "decided_on": "is in the future"},
                occurred_on=TOMORROW,
                decided_on=TOMORROW,
            ),
            bad("decided-tomorrow", {"decided_on": "is in the future"}, decided_on=TOMORROW),
            bad("year-9999", {"decided_on": "is in the future"}, decided_on="9999-12-31"),
            bad("before-1900", {"occurred_on": "is before 1900"}, occurred_on="1899-12-31"),
            ok("leap-day", occurred_on="2024-02-29", decided_on="2024-02-29"),
            ok("today", occurred_on=TODAY.isoformat(), decided_on=TODAY.isoformat()),
        ]
    ),
    "invalid-check-characters": Case(
        [
            ok("g1"),
            bad(
                "rid-check",
                {"identifier": "check character does not match (ISO 7064 MOD 11-2)"},
                identifier=_wrong_check_char(PERSON_B, "0123456789X"),
            ),
            bad(
                "rid-letter",
                {"identifier": "17 digits followed by a digit or X"},
                identifier=PERSON_B[:-1] + "Y",
            ),
            bad(
                "rid-birth-date",
                {"identifier": "birth date is not a calendar date"},
                identifier="110105198002300011",
            ),
            bad(
                "uscc-check",
                {"identifier": "check character does not match (GB 32100-2015)"},
                identifier=_wrong_check_char(ORG, "0123456789ABCDEFGHJKLMNPQRTUWXY"),
                identifier_scheme="cn_uscc",
            ),
            bad(
                "uscc-letter-o",
                {"identifier": "uses only digits and the letters"},
                identifier=ORG[:-1] + "O",
                identifier_scheme="cn_uscc",
            ),
            bad(
                "rid-as-uscc",
                {"identifier": "check character does not match (GB 32100-2015)"},
                identifier=PERSON_A,
                identifier_scheme="cn_uscc",
            ),
            bad(
                "rid-as-other",
                {"identifier": "has the shape of a resident ID"},
                identifier=PERSON_A,
                identifier_scheme="other",
            ),
            ok("org", ORG, identifier_scheme="cn_uscc", name="某某有限公司"),
            ok("lower-x", _resident_id_ending_in_x()),
            ok("padded", f" {PERSON_B}\u3000"),
        ]
    ),
    "null-bytes-and-control-characters": Case(
        [
            ok("g1"),
            bad("nul", {"name": CONTROL}, name="张\x00三"),
            bad("raw-nul", {"name": CONTROL}, jsonl={"(row)": "is not valid JSON"}, name="@NUL@"),
            bad("nul-basis", {"legal_basis": CONTROL}, legal_basis="Art.\x00 1"),
            bad("bell-id", {"source_record_id": CONTROL}, source_record_id="r\x07x"),
            bad("escape", {"attr.case_no": CONTROL}, **{"attr.case_no": "(2025)\x1b[31m"}),
            bad("delete", {"name": CONTROL}, name="A\x7fB"),
            bad("next-line", {"name": CONTROL}, name="A\x85B"),
            bad("tab-in-name", {"name": CONTROL}, name="A\tB"),
            bad("line-break-in-name", {"name": CONTROL}, name="A\nB"),
            bad("line-separator", {"name": CONTROL}, name="A\u2028B"),
            bad("bidi-override", {"name": CONTROL}, name="abc\u202efdp.exe"),
            bad("bidi-isolate", {"refers_to": CONTROL}, refers_to="g1\u2066"),
            bad("bidi-in-basis", {"legal_basis": CONTROL}, legal_basis="Art. \u202e1"),
            bad("control-in-other-id", {"identifier": ""}, identifier="a\x01b"),
            ok("tab-and-lines-in-basis", legal_basis="Art. 1\tpara 2\r\nArt. 3\u2028Art. 4"),
            ok("g2"),
        ],
        patches={"csv": [(b"@NUL@", b"\x00")], "jsonl": [(b"@NUL@", b"\x00")]},
    ),
    # An identifier in clear anywhere but the identifier column, full-width digits included.
    "identifiers-in-free-text": Case(
        [
            ok("g1"),
            bad("in-name", {"name": "must not contain a personal identifier"}, name=PERSON_A),
            bad(
                "full-width",
                {"name": "must not contain a personal identifier"},
                name="张三"
                + PERSON_A.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")),
            ),
            bad(
                "in-basis",
                {"legal_basis": "must not contain a personal identifier"},
                legal_basis=f"see {PERSON_B}",
            ),
            ok("g2", name="张三 (2025)京0105执1号"),
        ]
    ),
}


@pytest.mark.parametrize(
    ("case", "fmt"),
    [
        pytest.param(name, fmt, id=f"{name}-{fmt}")
        for name, case in CASES.items()
        for fmt in case.formats
    ],
)
def test_bad_rows_are_rejected_and_good_rows_kept(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    case: str,
    fmt: str,
) -> None:
    rows = CASES[case].rows
    path = CASES[case].write(tmp_path, fmt)
    before = table_names(store)

    result = ingest(store, settings, registry, path)

    check_outcome(store, result, rows, fmt, before=before)
    assert_no_traceback(capfd.readouterr().err)


def test_a_bom_and_crlf_leave_no_trace_in_the_values(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = [ok("g1", name="李四"), ok("g2")]
    path = Case(rows, bom=True, newline="\r\n").write(tmp_path, "csv")
    assert ingest(store, settings, registry, path).accepted == 2
    with store.read() as conn:
        stored = conn.execute(sa.select(records.c.source_record_id, records.c.status)).all()
    assert sorted(stored) == [("g1", "final"), ("g2", "final")]
    assert stored_names(store, settings) == {"g1": "李四", "g2": "张三"}


def test_a_stray_quote_in_an_unquoted_value_is_kept_verbatim(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    path = CASES["quote-inside-an-unquoted-value-is-kept"].write(tmp_path, "csv")
    assert ingest(store, settings, registry, path).accepted == 3
    assert stored_names(store, settings)["g2"] == 'Zh"ang'


@pytest.mark.parametrize("closing", ["never", "on a later junk line"])
def test_a_quote_left_open_is_one_rejected_row_that_says_what_it_swallowed(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    closing: str,
) -> None:
    # RFC 4180: an open quote runs to the next quote. The lines it swallows are not rows of
    # their own (as for Python's csv module); the reject says so, and nothing is silently lost:
    # every line is either stored, or accounted for by that reject.
    rows = [ok("g1"), ok("open", name="@OPEN@"), ok("swallowed")]
    body = csv_bytes(rows).replace(b"@OPEN@", b'"Wang')
    if closing != "never":
        body += b'junk,line"\n' + csv_bytes([ok("after")]).split(b"\n", 1)[1]
    path = tmp_path / "open.csv"
    path.write_bytes(body)

    result = ingest(store, settings, registry, path)

    found = rejects_by_row(result.rejects_path)
    assert list(found) == [3]
    reason = found[3]["(row)"]
    lines = 2 if closing == "never" else 3
    assert f"runs over {lines} lines" in reason
    assert "quote is probably left open" in reason
    expected = {"g1": 1} if closing == "never" else {"g1": 1, "after": 1}
    assert stored_counts(store) == expected
    assert (result.accepted, result.rejected) == (len(expected), 1)


def test_a_duplicate_source_record_id_is_kept_once(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = [
        ok("d1"),
        ok("d2", PERSON_B),
        ok("d1"),  # an exact repeat: a duplicate, nothing changes
        ok("d1", **{"attr.amount": "5"}),  # changed: rejected, never overwritten
        ok("d2", PERSON_A),  # another subject under the same id: rejected
        ok("d1", name=" 张三 "),  # the same after trimming: a duplicate
        ok("d3"),
    ]
    for fmt in ("csv", "jsonl"):
        for row in rows:
            row.values["source_record_id"] = row.srid.split("-")[0] + f"-{fmt}"
        path = Case(rows).write(tmp_path, fmt)
        result = ingest(store, settings, registry, path)

        first = first_row(fmt)
        assert (result.accepted, result.rejected, result.duplicates) == (3, 2, 2)
        found = rejects_by_row(result.rejects_path)
        assert found == {
            first + 3: {
                "source_record_id": f"repeats the id of row {first} with different content; "
                "send a correction as a new record with refers_to"
            },
            first + 4: {
                "source_record_id": f"repeats the id of row {first + 1} with different "
                "content; send a correction as a new record with refers_to"
            },
        }
    assert stored_counts(store) == {
        f"{srid}-{fmt}": 1 for srid in ("d1", "d2", "d3") for fmt in ("csv", "jsonl")
    }


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_10_mb_field_is_rejected_for_its_length_and_its_neighbours_kept(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path, fmt: str
) -> None:
    huge = "債" * (10 * 1024 * 1024 // 3 + 1)  # just over 10 MB of UTF-8
    rows = [
        ok("g1"),
        bad("big-name", {"name": "is longer than 200 characters"}, name=huge),
        bad("big-basis", {"legal_basis": "is longer than 1000 characters"}, legal_basis=huge),
        bad("big-case", {"attr.case_no": "is longer than 64 characters"}, **{"attr.case_no": huge}),
        bad("big-id", {"identifier": "a resident ID has 18 characters"}, identifier=huge),
        ok("g2"),
    ]
    path = Case(rows).write(tmp_path, fmt)
    assert path.stat().st_size > 40 * 1024 * 1024
    before = table_names(store)

    result = ingest(store, settings, registry, path)

    check_outcome(store, result, rows, fmt, before=before)
    # The long values never reached the rejects or the store.
    assert result.rejects_path is not None
    assert result.rejects_path.stat().st_size < 10_000


def test_5000_extra_cells_in_a_csv_row_reject_that_row(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = [ok("g1"), bad("wide", {"(row)": "expected 12 fields, found 5012"}), ok("g2")]
    body = csv_bytes(rows)
    lines = body.split(b"\n")
    lines[2] += b",x" * 5000
    path = tmp_path / "wide.csv"
    path.write_bytes(b"\n".join(lines))
    before = table_names(store)

    check_outcome(store, ingest(store, settings, registry, path), rows, "csv", before=before)


@pytest.mark.parametrize("where", ["attributes", "keys"])
def test_5000_unknown_keys_in_a_json_line_reject_that_line(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path, where: str
) -> None:
    wide = as_object(record("wide", PERSON_B))
    if where == "attributes":
        wide["attributes"].update({f"x{i}": i for i in range(5000)})
        reason = "no record type in the registry declares it"
    else:
        wide.update({f"attr.x{i}": i for i in range(5000)})
        reason = "is not a record field"
    expect = {"attr.x0": reason, "attr.x4999": reason}
    rows = [ok("g1"), Row(record("wide", PERSON_B), expect, jsonl_object=wide), ok("g2")]
    path = Case(rows).write(tmp_path, "jsonl")
    before = table_names(store)

    found = check_outcome(
        store, ingest(store, settings, registry, path), rows, "jsonl", before=before
    )
    assert len(found[2]) == 5000


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_injection_strings_are_data_and_nothing_runs(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path, fmt: str
) -> None:
    rows: list[Row] = [ok("g1")]
    for hostile in INJECTIONS:
        # Every field hostile: refused wherever the value has a form, and for nothing else.
        rows.append(
            Row(
                dict.fromkeys(ALL_COLUMNS, hostile),
                {
                    "identifier_scheme": "unknown identifier scheme (value not shown)",
                    "record_type": "unknown record type (value not shown)",
                    "occurred_on": NOT_A_DATE,
                    "decided_on": NOT_A_DATE,
                    "status": "(value not shown) is not a status",
                    "refers_to": "a record cannot refer to itself",
                    "subject_kind": "must be person or organisation",
                },
            )
        )
        # Hostile where any text is data: an id, a name, a citation, a case number, and an
        # identifier of scheme `other` (kept as its keyed hash).
        data = record(
            hostile,
            hostile,
            identifier_scheme="other",
            name=hostile,
            legal_basis=hostile,
            **{"attr.case_no": hostile},
        )
        rows.append(Row(data))
    rows.append(ok("g2", PERSON_B))
    path = Case(rows).write(tmp_path, fmt)
    before = table_names(store)

    result = ingest(store, settings, registry, path)

    check_outcome(store, result, rows, fmt, before=before)
    assert before >= {"records", "subjects", "identifiers", "rejects", "ingestions"}
    # Revocations naming those records by their hostile ids: looked up as data, and found.
    revocations = [
        Row(
            record(
                f"{hostile}#revoked",
                hostile,
                identifier_scheme="other",
                refers_to=hostile,
                status="overturned",
                decided_on="2025-03-01",
                **{"attr.case_no": f"case {i}"},
            )
        )
        for i, hostile in enumerate(INJECTIONS)
    ]
    later = ingest(store, settings, registry, Case(revocations).write(tmp_path / "later", fmt))
    assert (later.accepted, later.rejected) == (len(INJECTIONS), 0)
    assert table_names(store) == before
    names = stored_names(store, settings)
    with store.read() as conn:
        ids = dict(conn.execute(sa.select(records.c.source_record_id, records.c.id)).all())
        for hostile in INJECTIONS:
            kept = conn.execute(
                sa.select(records.c.legal_basis, records.c.attributes).where(
                    records.c.source_record_id == hostile
                )
            ).one()
            assert (names[hostile], kept.legal_basis, kept.attributes["case_no"]) == (
                hostile,
                hostile,
                hostile,
            )
            revoked = conn.execute(
                sa.select(records.c.refers_to, records.c.refers_to_id).where(
                    records.c.source_record_id == f"{hostile}#revoked"
                )
            ).one()
            assert tuple(revoked) == (hostile, ids[hostile])
        assert len(ids) == 2 + 2 * len(INJECTIONS)
        # Two persons, and one subject per hostile identifier of scheme `other`.
        assert conn.execute(sa.select(sa.func.count()).select_from(subjects)).scalar_one() == (
            2 + len(INJECTIONS)
        )
    # The rejects file repeats a hostile record id as it is: never evaluated, never formatted.
    assert result.rejects_path is not None
    echoed = {r["source_record_id"] for r in read_rejects(result.rejects_path)}
    assert echoed == set(INJECTIONS)
    assert "49" not in result.rejects_path.read_text(encoding="utf-8")


def test_a_reference_to_an_id_fixed_later_in_the_same_file_is_kept(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = [
        bad("x", {"decided_on": "is in the future"}, identifier=PERSON_A, decided_on=TOMORROW),
        ok("x"),  # the same id, fixed: accepted (the rejected row is no record)
        ok("fix", refers_to="x", status="overturned", decided_on="2025-03-01"),
    ]
    path = Case(rows).write(tmp_path, "csv")
    before = table_names(store)

    check_outcome(store, ingest(store, settings, registry, path), rows, "csv", before=before)


def test_hostile_keys_in_json_lines_are_rejected_without_being_repeated(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = [ok("g1")]
    for i, hostile in enumerate(INJECTIONS):
        obj = as_object(record(f"k{i}", PERSON_B))
        obj[hostile] = "x"
        obj["attributes"][hostile] = 1
        expect = {"(unnamed key)": "is not a record field", "attr.(unnamed key)": "declares it"}
        rows.append(Row(record(f"k{i}", PERSON_B), expect, jsonl_object=obj))
    rows.append(ok("g2"))
    path = Case(rows).write(tmp_path, "jsonl")
    before = table_names(store)

    check_outcome(store, ingest(store, settings, registry, path), rows, "jsonl", before=before)


def test_a_key_given_twice_in_a_json_line_is_refused(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    # JSON leaves open which of two values counts; a reader that took either would store a
    # record the source may not have meant ("final" or "overturned"?).
    one = orjson.dumps(as_object(record("g1", PERSON_A))).decode()
    twice = one.replace('"g1"', '"twice"').replace(
        '"status":"final"', '"status":"final","status":"overturned"'
    )
    in_attributes = one.replace('"g1"', '"twice-attr"').replace(
        '"amount":"12000.50"', '"amount":"1","amount":"12000.50"'
    )
    spaced = json.dumps(as_object(record("g2", PERSON_A)))  # `"key": value`, counted the same
    text_with_colons = one.replace('"g1"', '"g3"').replace(
        '"Civil Procedure Law Art. 247"', '"\\"status\\": \\"a\\":\\"b\\":"'
    )
    path = tmp_path / "twice.jsonl"
    path.write_text("\n".join([one, twice, in_attributes, spaced, text_with_colons]) + "\n")

    result = ingest(store, settings, registry, path)

    found = rejects_by_row(result.rejects_path)
    assert found == {
        2: {"status": "is given twice; which value is meant is unclear"},
        3: {"attr.amount": "is given twice; which value is meant is unclear"},
    }
    assert stored_counts(store) == {"g1": 1, "g2": 1, "g3": 1}


@pytest.mark.slow
def test_invalid_bytes_and_characters_across_read_boundaries(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small blocks, so that multi-byte characters and bad bytes fall across the reader's reads.
    defaults = csv_records.read_csv.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "block_bytes", 4096)
    rows = []
    for i in range(600):
        name = "张三李四王五" * (i % 7 + 1)
        if i % 37 == 5:
            rows.append(bad(f"r{i}", {"name": UTF8}, name=f"{name}@BAD@"))
        else:
            rows.append(ok(f"r{i}", name=name))
    case = Case(rows, patches={"csv": [(b"@BAD@", b"\xe5\xbc")]})
    path = case.write(tmp_path, "csv")
    before = table_names(store)

    check_outcome(store, ingest(store, settings, registry, path), rows, "csv", before=before)


def _stray_quotes_file(seed: int) -> tuple[str, int]:
    """A CSV file of quotes, commas and line breaks in every place, and a block size twice its
    longest line (so that rows whose quotes run on span several blocks)."""
    rnd = random.Random(seed)
    columns = [*RECORD_FIELDS, "attr.case_no", "attr.amount"]

    def value() -> str:
        return "".join(rnd.choice(',"\n\r \tab张三é') for _ in range(rnd.randint(0, 12)))

    def line(values: list[str]) -> str:
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\n").writerow(values)
        return out.getvalue()

    lines = [line(columns)]
    for _ in range(25):
        kind = rnd.random()
        if kind < 0.5:
            lines.append(line([value() for _ in columns]))
        elif kind < 0.75:
            lines.append(line([value() for _ in range(rnd.choice([1, 3, 6, 11, 13, 14]))]))
        else:
            lines.append("\n")
    return "".join(lines), 2 * max(len(entry.encode()) for entry in lines)


@pytest.mark.slow
def test_files_of_stray_quotes_and_line_breaks_are_read_to_the_end(tmp_path: Path) -> None:
    # The reader lets Arrow read only a few blocks ahead of its consumer. When a batch needed
    # more than that (rows running on across blocks), each waited for the other forever: most
    # of these files hung the reader (and, now and then, the hypothesis test of the CSV reader).
    attributes = frozenset({"case_no", "amount"})
    for seed in range(10):
        text, block = _stray_quotes_file(seed)
        path = tmp_path / f"quotes-{seed}.csv"
        path.write_text(text, encoding="utf-8")
        rows: list[int] = []
        rejected: list[int] = []

        def read(
            path: Path = path,
            block: int = block,
            rows: list[int] = rows,
            rejected: list[int] = rejected,
        ) -> None:
            for batch in csv_records.read_csv(
                path, attribute_names=attributes, batch_rows=3, block_bytes=block
            ):
                rows.extend(batch.frame["row"].to_list())
                rejected.extend(r.row for r in batch.rejects)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=30)

        assert not reader.is_alive(), f"the reader stalled on file {seed}"
        records = [r for r in csv.reader(io.StringIO(text, newline="")) if r != []][1:]
        width = len(RECORD_FIELDS) + 2
        assert rows == [n for n, r in enumerate(records, start=2) if len(r) == width], seed
        assert sorted(rejected) == [n for n, r in enumerate(records, start=2) if len(r) != width]


# --- files that cannot be read at all -----------------------------------------------------------


def _utf16(rows: list[Row], fmt: str, bom: bool) -> bytes:
    text = (csv_bytes(rows) if fmt == "csv" else jsonl_bytes(rows)).decode("utf-8")
    return text.encode("utf-16" if bom else "utf-16-le")


UNREADABLE: dict[str, tuple[str, bytes, str]] = {
    "utf16-csv": ("csv", _utf16([ok("g1")], "csv", True), "starts with a UTF-16 byte-order mark"),
    "utf16-jsonl": (
        "jsonl",
        _utf16([ok("g1")], "jsonl", True),
        "starts with a UTF-16 byte-order mark",
    ),
    "utf16-without-bom": (
        "csv",
        _utf16([ok("g1")], "csv", False),
        "the header holds NUL characters; is the file UTF-16?",
    ),
    "header-not-utf8": (
        "csv",
        b"source_record_id,identifier_scheme,n\xe4me\n",
        "the header is not valid UTF-8 text (byte 36 of the file is not UTF-8)",
    ),
    "gzip": ("csv", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(256)), "UTF-8"),
    "empty": ("csv", b"", "the file is empty"),
    "5000-unknown-columns": (
        "csv",
        csv_bytes([Row({**record("g1", PERSON_A), **{f"attr.x{i}": "" for i in range(5000)}})]),
        "column 'attr.x0': no record type in the registry declares the attribute 'x0'",
    ),
    "hostile-column": (
        "csv",
        csv_bytes([Row({**record("g1", PERSON_A), "attr.'; DROP TABLE records; --": "x"})]),
        "column (not shown): no record type in the registry declares the attribute",
    ),
    "missing-columns": ("csv", b"source_record_id,name\nr1,x\n", "lacks required column(s)"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_a_file_that_cannot_be_read_is_refused_with_a_clear_error(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    case: str,
) -> None:
    fmt, content, expected = UNREADABLE[case]
    path = tmp_path / f"unreadable.{fmt}"
    path.write_bytes(content)
    before = table_names(store)

    with pytest.raises(InvalidInput) as caught:
        ingest(store, settings, registry, path)

    detail = caught.value.detail
    assert detail.startswith(f"{path.name}: "), detail
    assert expected in detail
    assert "DROP TABLE" not in detail
    assert stored_counts(store) == {}
    assert table_names(store) == before
    with store.read() as conn:
        run = conn.execute(sa.select(ingestions.c.status, ingestions.c.error)).one()
    assert run.status == "failed"
    assert expected in run.error
    assert_no_traceback(capfd.readouterr().err)


@pytest.mark.slow
def test_a_row_longer_than_the_reader_holds_stops_reading_with_a_clear_error(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    # Arrow holds a row of up to about two 16 MiB blocks (a 17 MB row is read, and rejected for
    # its length); past that, reading stops, saying why.
    rows = [ok("g1"), ok("g2"), ok("huge", name="x" * (40 << 20)), ok("after")]
    path = Case(rows).write(tmp_path, "csv")

    with pytest.raises(InvalidInput) as caught:
        ingest(store, settings, registry, path)

    assert caught.value.detail == (
        "case.csv: reading stopped after row 3: a row is longer than 16 MiB, or a quote is left "
        "open; the rows before it were processed"
    )
    assert stored_counts(store) == {"g1": 1, "g2": 1}
    with store.read() as conn:
        assert conn.execute(sa.select(ingestions.c.status)).scalar_one() == "failed"


# --- through the command line -------------------------------------------------------------------


class Cli:
    """`candor …` in-process against the test's store, with its secret."""

    def __init__(self, settings: Settings) -> None:
        self.db = settings.database_url
        self.runner = CliRunner(env={"CANDOR_SECRET_FILE": str(settings.secret_file)})

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = self.runner.invoke(app, [*args, "--db", self.db, "--json"])
        return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "case", ["injection-every-field", "wrong-encoding-and-field-count", "wrong-encoding"]
)
def test_the_cli_prints_the_summary_and_writes_every_reject(
    settings: Settings,
    store: Store,
    registry: Registry,
    court: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    case: str,
) -> None:
    if case == "injection-every-field":
        hostile = [Row(dict.fromkeys(ALL_COLUMNS, h), {"status": ""}) for h in INJECTIONS]
        rows = [ok("g1"), *hostile, ok("g2")]
        path = Case(rows).write(tmp_path, "csv")
    else:
        rows = CASES[case].rows
        path = CASES[case].write(tmp_path, "csv")
    out = tmp_path / "rejects" / "out.csv"

    code, stdout, stderr = Cli(settings)(
        "ingest", str(path), "--source", "court", "--rejects", str(out)
    )

    assert code == 0, stderr
    [line] = stdout.splitlines()
    bad_rows = [i + 2 for i, r in enumerate(rows) if r.expect]
    assert json.loads(line) == {
        "accepted": len(rows) - len(bad_rows),
        "rejected": len(bad_rows),
        "duplicates": 0,
        "rejects": str(out),
    }
    assert sorted(rejects_by_row(out)) == bad_rows
    assert stored_counts(store) == {r.srid: 1 for r in rows if not r.expect}
    assert_no_traceback(stderr + capfd.readouterr().err)


def test_the_cli_refuses_an_undecodable_header_naming_the_byte(
    settings: Settings, store: Store, court: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.csv"
    content = csv_bytes([ok("g1")]).replace(b"name", "nöme".encode("latin-1"), 1)
    path.write_bytes(content)
    assert content.index(b"\xf6") == 47

    code, stdout, stderr = Cli(settings)("ingest", str(path), "--source", "court")

    assert code == 1
    problem = json.loads(stdout)["error"]
    assert problem["status"] == 400
    assert problem["detail"] == (
        "latin1.csv: the header is not valid UTF-8 text (byte 47 of the file is not UTF-8); "
        "save the file as UTF-8"
    )
    assert_no_traceback(stderr + capfd.readouterr().err)
    assert stored_counts(store) == {}


# --- rulebook conditions --------------------------------------------------------------------------

REFUSED_CONDITIONS = {
    "amount > 0; DROP TABLE records": "must be one expression, not several statements",
    "amount > 0; DROP TABLE records;": "must be one expression, not several statements",
    "1; SELECT 1": "must be one expression, not several statements",
    "amount > (SELECT 1)": "uses a subquery, which a condition may not",
    "amount IN (SELECT amount FROM records)": "uses a subquery, which a condition may not",
    "SELECT 1": "uses a subquery, which a condition may not",
    "EXISTS (SELECT 1)": "calls EXISTS, which is not allowed",
    "load_extension('x') IS NULL": "which is not allowed (abs, coalesce, greatest, least, length)",
    "sqlite_version() = '3'": "which is not allowed (abs, coalesce, greatest, least, length)",
    "pg_sleep(10) IS NULL": "which is not allowed (abs, coalesce, greatest, least, length)",
    "read_csv('/etc/passwd') IS NULL": "calls READ_CSV, which is not allowed",
    "amount > 0 UNION SELECT * FROM subjects": "uses union, which a condition may not",
    "amount > 0 UNION ALL SELECT id FROM subjects": "uses union, which a condition may not",
    "DROP TABLE records": "uses drop, which a condition may not",
    "ATTACH DATABASE '/tmp/x.db' AS x": "uses attach, which a condition may not",
    "PRAGMA writable_schema = 1": "uses pragma, which a condition may not",
    "COPY records TO '/tmp/x'": "uses copy, which a condition may not",
    "amount > 0) OR (1=1": "is not a SQL expression",
    "amount > 0 LIMIT 1": "is not a SQL expression",
    "records.amount > 0": "names records.amount: use attribute names without a table",
    "amount > $1": "uses placeholder, which a condition may not",
    "amount > ?": "uses placeholder, which a condition may not",
    "case_no LIKE '%'": "uses like, which a condition may not",
    "CAST(amount AS TEXT) = '1'": "calls CAST, which is not allowed",
    "password > 0": "names 'password', which is not an attribute of court.enforcement_order",
    "{{7*7}} > 0": "which is not allowed",
    "${7*7} > 0": "is not a SQL expression",
    "amount > 0\x00; DROP TABLE records": "must be one expression, not several statements",
    "amount < 0 /* */ OR TRUE; DROP TABLE records; -- */": "must be one expression, not several",
}
WHERE = {
    "rules.0.condition": ("rules", 0),
    "overrides.0.condition": ("overrides", 0),
    "lists.debtors.entry.0.condition": ("entry", 0),
    "lists.debtors.extension.condition": ("extension", 0),
}


def rulebook_text(condition: str, where: str) -> str:
    """A small valid rulebook with ``condition`` at ``where`` (and none elsewhere)."""
    rule: dict[str, Any] = {
        "id": "orders",
        "record_type": "court.enforcement_order",
        "points": -10,
        "legal_basis": "test",
    }
    override: dict[str, Any] = {
        "id": "forced",
        "record_type": "court.enforcement_order",
        "grade": "B",
        "legal_basis": "test",
    }
    entry: dict[str, Any] = {"record_type": "court.enforcement_order"}
    extension: dict[str, Any] = {"condition": "amount > 1000000", "years": 1}
    part = {"rules": rule, "overrides": override, "entry": entry, "extension": extension}
    part[WHERE[where][0]]["condition"] = condition
    document = {
        "rulebook": "hardening",
        "version": "1",
        "title": "Hardening",
        "domain": "judicial",
        "score": {"base": 1000},
        "rules": [rule],
        "grades": {"bands": [{"grade": "A", "min": 1000}, {"grade": "B"}]},
        "overrides": [override],
        "lists": {
            "debtors": {
                "title": "Debtors",
                "legal_basis": "test",
                "entry": [entry],
                "term": {"years": 1},
                "extension": extension,
            }
        },
    }
    return yaml.safe_dump(document, allow_unicode=True)


@pytest.fixture(scope="module")
def sample_registry() -> Registry:
    """The sample registry, without a store (rulebooks are checked before any store is)."""
    return load_registry(Settings.load(environ={}))


@pytest.mark.parametrize("condition", list(REFUSED_CONDITIONS))
def test_a_condition_that_tries_injection_is_refused_naming_the_rule(
    sample_registry: Registry, tmp_path: Path, condition: str
) -> None:
    for where in WHERE:
        path = tmp_path / "hostile.yaml"
        path.write_text(rulebook_text(condition, where), encoding="utf-8")

        with pytest.raises(RulebookError) as caught:
            read_rulebook(path, sample_registry)

        detail = caught.value.detail
        assert detail == f"{path}: {where}: {caught.value.extra['problems'][0][len(where) + 2 :]}"
        assert caught.value.extra["problems"] == [detail.removeprefix(f"{path}: ")]
        assert REFUSED_CONDITIONS[condition] in detail


def test_activating_hostile_conditions_stores_and_runs_nothing(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    path = Case([ok("g1"), ok("g2", PERSON_B)]).write(tmp_path, "csv")
    assert ingest(store, settings, registry, path).accepted == 2
    before = table_names(store)
    for i, condition in enumerate(REFUSED_CONDITIONS):
        path = tmp_path / f"hostile-{i}.yaml"
        path.write_text(rulebook_text(condition, "rules.0.condition"), encoding="utf-8")
        with pytest.raises(RulebookError, match=r"rules\.0\.condition: "):
            activate(store, registry, path, effective=date(2020, 1, 1), today=TODAY)

    assert table_names(store) == before
    assert stored_counts(store) == {"g1": 1, "g2": 1}
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rulebooks)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(subjects)).scalar_one() == 2


def test_the_cli_refuses_a_hostile_rulebook_naming_the_rule(
    settings: Settings, store: Store, court: str, tmp_path: Path
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(
        rulebook_text("amount > 0; DROP TABLE records", "lists.debtors.entry.0.condition")
    )

    code, stdout, stderr = Cli(settings)("rulebook", "activate", str(path))

    assert code == 1
    detail = json.loads(stdout)["error"]["detail"]
    assert detail == (
        f"{path}: lists.debtors.entry.0.condition: must be one expression, not several "
        "statements [condition]"
    )
    assert_no_traceback(stderr)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rulebooks)).scalar_one() == 0


@pytest.mark.parametrize(
    "condition",
    [
        "load_extension('x') IS NULL",
        "sqlite_version() = '3'",
        "pg_sleep(10) IS NULL",
    ],
)
def test_an_unknown_function_is_named_in_the_refusal(
    sample_registry: Registry, tmp_path: Path, condition: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(rulebook_text(condition, "rules.0.condition"), encoding="utf-8")
    with pytest.raises(RulebookError) as caught:
        read_rulebook(path, sample_registry)
    assert condition.partition("(")[0] in caught.value.detail


@pytest.mark.parametrize(
    "condition",
    [
        "amount > 0 -- AND case_no = 'x'",
        "amount > 0 /* hidden */",
        "/* x */ amount > 0",
        # A comment that tries to close itself, or to open one PostgreSQL would nest.
        "amount > 0 -- */ OR 1=1; DROP TABLE records; /*",
        "amount < 0 -- /* nested, for PostgreSQL",
    ],
)
def test_a_comment_in_a_condition_is_refused(
    sample_registry: Registry, tmp_path: Path, condition: str
) -> None:
    path = tmp_path / "commented.yaml"
    path.write_text(rulebook_text(condition, "rules.0.condition"), encoding="utf-8")
    with pytest.raises(RulebookError) as caught:
        read_rulebook(path, sample_registry)
    assert "rules.0.condition: contains a comment" in caught.value.detail


@pytest.mark.parametrize(
    ("condition", "counted"),
    [
        # A quote doubled inside a literal is part of the text compared, nothing else.
        ("case_no = 'x''; DROP TABLE records; --'", {"hostile"}),
        ("case_no = '{{7*7}}' OR case_no = '%s%s%n'", {"template"}),
        ("case_no = '1'' OR ''1''=''1'", set()),
    ],
)
def test_hostile_text_in_an_accepted_condition_is_compared_as_data(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    condition: str,
    counted: set[str],
) -> None:
    rows = [
        ok("hostile", **{"attr.case_no": "x'; DROP TABLE records; --"}),
        ok("template", **{"attr.case_no": "{{7*7}}"}),
        ok("plain", **{"attr.case_no": "49"}),
    ]
    assert ingest(store, settings, registry, Case(rows).write(tmp_path, "csv")).accepted == 3
    path = tmp_path / "rulebook.yaml"
    path.write_text(rulebook_text(condition, "rules.0.condition"), encoding="utf-8")
    activate(store, registry, path, effective=date(2020, 1, 1), today=TODAY)
    hasher = load_secret(settings).identifier_hasher()
    subject = subject_id_for(store, hasher, f"cn_resident_id:{PERSON_A}", TODAY)
    assert subject is not None

    _, rated = rate_subject(store, registry, subject, as_of=TODAY)

    with store.read() as conn:
        ids = dict(conn.execute(sa.select(records.c.id, records.c.source_record_id)).all())
    contributions = [c for c in rated.contributions if c["rule_id"] == "orders"]
    assert {ids[c["record_id"]] for c in contributions} == counted
    [rating] = rated.ratings
    assert rating["score"] == 1000 - 10 * len(counted)
    assert stored_counts(store) == {"hostile": 1, "template": 1, "plain": 1}

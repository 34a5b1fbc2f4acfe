"""Ingestion end to end through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from candor.domain.registry import Registry
from candor.errors import InvalidInput, NotFound
from candor.formats import csv_records
from candor.services.ingestion import ingest_file, ingest_objects
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from candor.store.tables import identifiers, ingest_batches, ingestions, metadata, records, subjects
from candor.store.tables import rejects as rejects_table
from tests.conftest import TODAY
from tests.helpers import (
    COURT_TYPES,
    as_object,
    read_rejects,
    record,
    resident_id,
    uscc,
    write_csv,
    write_jsonl,
)

PERSON_A = resident_id(1)
PERSON_B = resident_id(2)


@pytest.fixture
def court(store: Store, registry: Registry) -> str:
    add_source(store, registry, "court", COURT_TYPES)
    return "court"


def ingest(store: Store, settings: Settings, registry: Registry, path: Path, source: str = "court"):  # type: ignore[no-untyped-def]
    return ingest_file(store, settings, registry, path, source, today=TODAY)


def stored_ids(store: Store) -> list[str]:
    with store.read() as conn:
        return sorted(conn.execute(sa.select(records.c.source_record_id)).scalars())


def mixed_rows() -> list[dict[str, Any]]:
    bad_check = PERSON_B[:-1] + ("0" if PERSON_B[-1] != "0" else "1")
    return [
        record("r1", PERSON_A),
        record(
            "r2",
            PERSON_B,
            record_type="court.dishonest_debtor_finding",
            **{"attr.amount": "", "attr.ground": "2", "attr.aggravated": "false"},
        ),
        record("r3", bad_check),
        record("r4", PERSON_A, record_type="court.made_up_type"),
        record("r5", PERSON_A, record_type="finance.loan_default", **{"attr.case_no": ""}),
        record("r6", ""),
        record("r7", PERSON_A, decided_on="2027-01-01"),
        record("r8", PERSON_A, **{"attr.amount": "12,000"}),
        record(
            "r9",
            PERSON_B,
            record_type="court.obligation_performed",
            refers_to="r2",
            occurred_on="2025-06-01",
            decided_on="2025-06-02",
            **{"attr.amount": "", "attr.case_no": "(2025)京0105执r2号"},
        ),
    ]


EXPECTED_REJECTS = {
    ("4", "r3", "identifier", "check character does not match (ISO 7064 MOD 11-2)"),
    (
        "5",
        "r4",
        "record_type",
        "unknown record type 'court.made_up_type'; it is not in the record-type registry",
    ),
    (
        "6",
        "r5",
        "record_type",
        "record type 'finance.loan_default' is outside this source's mandate",
    ),
    ("7", "r6", "identifier", "is required"),
    ("8", "r7", "decided_on", "is in the future"),
    ("9", "r8", "attr.amount", "must be a decimal number with at most 6 decimals, such as 1234.50"),
}


def test_mixed_file_accepts_exactly_the_valid_rows_and_names_each_reject(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "court.csv", mixed_rows())

    first = ingest(store, settings, registry, path)

    assert (first.accepted, first.rejected, first.duplicates) == (3, 6, 0)
    assert stored_ids(store) == ["r1", "r2", "r9"]
    assert first.rejects_path is not None
    in_file = {
        (r["row"], r["source_record_id"], r["field"], r["reason"])
        for r in read_rejects(first.rejects_path)
    }
    assert in_file == EXPECTED_REJECTS
    with store.read() as conn:
        in_store = {
            (str(r.row), r.source_record_id, r.field, r.reason)
            for r in conn.execute(sa.select(rejects_table))
        }
    assert in_store == EXPECTED_REJECTS

    second = ingest(store, settings, registry, path)

    assert (second.accepted, second.rejected, second.duplicates) == (0, 6, 3)
    assert stored_ids(store) == ["r1", "r2", "r9"]


def test_summary_has_the_contract_shape(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    result = ingest(store, settings, registry, write_csv(tmp_path / "f.csv", mixed_rows()))
    assert result.summary() == {
        "accepted": 3,
        "rejected": 6,
        "duplicates": 0,
        "rejects": str(tmp_path / "f.csv.rejects.csv"),
    }


def test_a_changed_row_under_an_accepted_id_is_rejected_and_the_record_kept(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    ingest(store, settings, registry, write_csv(tmp_path / "a.csv", [record("r1", PERSON_A)]))
    changed = write_csv(tmp_path / "b.csv", [record("r1", PERSON_A, **{"attr.amount": "99"})])

    result = ingest(store, settings, registry, changed)

    assert (result.accepted, result.rejected, result.duplicates) == (0, 1, 0)
    assert result.rejects_path is not None
    [reject] = read_rejects(result.rejects_path)
    assert reject["field"] == "source_record_id"
    assert "different content" in reject["reason"]
    with store.read() as conn:
        amount = conn.execute(sa.select(records.c.attributes)).scalar_one()["amount"]
    assert amount == 12000.5


def test_identifiers_are_kept_only_as_keyed_hashes(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "court.csv", mixed_rows())
    ingest(store, settings, registry, path)

    dumped = []
    with store.read() as conn:
        for table in metadata.sorted_tables:
            dumped += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    text = "\n".join(dumped)
    for identifier in (PERSON_A, PERSON_B):
        assert identifier not in text
        assert identifier.encode() not in text.encode()
    if store.dialect == "sqlite":  # also the raw pages, free ones included
        database = Path(sa.make_url(store.url).database or "")
        for part in (database, database.with_name(database.name + "-wal")):
            if part.exists():
                assert PERSON_A.encode() not in part.read_bytes()
    with store.read() as conn:
        digests = conn.execute(sa.select(identifiers.c.digest)).scalars().all()
    assert len(digests) == 2
    assert all(len(d) == 32 for d in digests)


def test_records_of_one_identifier_share_one_subject(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = [record(f"r{i}", PERSON_A if i % 2 else PERSON_B) for i in range(10)]
    ingest(store, settings, registry, write_csv(tmp_path / "a.csv", rows))
    ingest(store, settings, registry, write_csv(tmp_path / "b.csv", [record("x", PERSON_A)]))

    with store.read() as conn:
        per_subject = conn.execute(
            sa.select(records.c.subject_id, sa.func.count())
            .group_by(records.c.subject_id)
            .order_by(sa.func.count())
        ).all()
        kinds = conn.execute(sa.select(subjects.c.kind, subjects.c.region_code)).all()
    assert [n for _, n in per_subject] == [5, 6]
    assert sorted(kinds) == [("person", "110105"), ("person", "110105")]


def test_refers_to_must_name_an_earlier_record_of_the_source(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    ingest(store, settings, registry, write_csv(tmp_path / "a.csv", [record("old", PERSON_A)]))
    rows = [
        record("to-old", PERSON_A, refers_to="old"),  # accepted before: fine
        record("to-later", PERSON_A, refers_to="later"),  # comes later in the file: refused
        record("later", PERSON_A),
        record("to-missing", PERSON_A, refers_to="nowhere"),  # refused
        record("bad", PERSON_A, decided_on="2099-01-01"),
        record("to-bad", PERSON_A, refers_to="bad"),  # its target was refused: refused
        record("to-to-old", PERSON_A, refers_to="to-old"),  # earlier in this file: fine
    ]
    result = ingest(store, settings, registry, write_csv(tmp_path / "b.csv", rows))

    assert result.rejects_path is not None
    refused = {r["source_record_id"]: r["field"] for r in read_rejects(result.rejects_path)}
    assert refused == {
        "to-later": "refers_to",
        "to-missing": "refers_to",
        "bad": "decided_on",
        "to-bad": "refers_to",
    }
    with store.read() as conn:
        links = dict(
            conn.execute(
                sa.select(records.c.source_record_id, records.c.refers_to_id).where(
                    records.c.refers_to.is_not(None)
                )
            ).all()
        )
        ids = dict(conn.execute(sa.select(records.c.source_record_id, records.c.id)).all())
    assert links == {"to-old": ids["old"], "to-to-old": ids["to-old"]}
    reasons = {r["source_record_id"]: r["reason"] for r in read_rejects(result.rejects_path)}
    assert reasons["to-bad"] == "names the record of row 6, which was rejected"
    assert reasons["to-missing"].startswith("names no earlier record from this source")


def test_a_record_cannot_settle_another_subjects_record_or_predate_it(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    ingest(store, settings, registry, write_csv(tmp_path / "a.csv", [record("f1", PERSON_A)]))
    rows = [
        record("other", PERSON_B, refers_to="f1", decided_on="2025-03-01"),
        record(
            "early", PERSON_A, refers_to="f1", occurred_on="2025-01-01", decided_on="2025-01-20"
        ),
        record("fine", PERSON_A, refers_to="f1", decided_on="2025-02-01"),
    ]
    result = ingest(store, settings, registry, write_csv(tmp_path / "b.csv", rows))

    assert result.rejects_path is not None
    reasons = {r["source_record_id"]: r["reason"] for r in read_rejects(result.rejects_path)}
    assert reasons == {
        "other": (
            "names a record about another subject; a record can only correct, revoke or settle "
            "records about its own subject"
        ),
        "early": "is decided before the record it names",
    }
    assert stored_ids(store) == ["f1", "fine"]


def test_the_rejects_file_never_overwrites_the_input(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "court.csv", [record("r1", PERSON_A)])
    before = path.read_bytes()
    with pytest.raises(InvalidInput, match="is the file being ingested"):
        ingest_file(store, settings, registry, path, "court", rejects_path=path, today=TODAY)
    assert path.read_bytes() == before
    with pytest.raises(InvalidInput, match="cannot write the rejects"):
        ingest_file(
            store, settings, registry, path, "court", rejects_path=path / "x.csv", today=TODAY
        )
    with store.read() as conn:  # neither attempt left a run behind
        assert conn.execute(sa.select(sa.func.count()).select_from(ingestions)).scalar_one() == 0


def test_csv_and_json_lines_give_the_same_records(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = mixed_rows()
    ingest(store, settings, registry, write_csv(tmp_path / "a.csv", rows))

    again = ingest(store, settings, registry, write_jsonl(tmp_path / "a.jsonl", rows))

    # Everything valid in the CSV is an exact duplicate when it comes again as JSON Lines.
    assert (again.accepted, again.rejected, again.duplicates) == (0, 6, 3)


def test_api_batches_go_through_the_same_checks(
    store: Store, settings: Settings, registry: Registry, court: str
) -> None:
    objects = [as_object(r) for r in mixed_rows()]
    result = ingest_objects(store, settings, registry, "court", objects, today=TODAY)

    assert (result.accepted, result.rejected, result.duplicates) == (3, 6, 0)
    # Rows of an API batch are positions in the request, from 1.
    assert {(r.row, r.field) for r in result.rejects} == {
        (3, "identifier"),
        (4, "record_type"),
        (5, "record_type"),
        (6, "identifier"),
        (7, "decided_on"),
        (8, "attr.amount"),
    }


def test_an_unknown_source_is_refused_before_reading(
    store: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", [record("r1", PERSON_A)])
    with pytest.raises(NotFound, match="no source named 'nobody'"):
        ingest(store, settings, registry, path, source="nobody")
    assert stored_ids(store) == []


def test_large_files_are_committed_in_batches(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    rows = [record(f"r{i:05d}", resident_id(i % 500)) for i in range(2_500)]
    result = ingest(store, settings, registry, write_csv(tmp_path / "big.csv", rows))

    assert result.accepted == 2_500
    with store.read() as conn:
        batches = conn.execute(
            sa.select(ingest_batches.c.first_row, ingest_batches.c.last_row).order_by(
                ingest_batches.c.seq
            )
        ).all()
        run = conn.execute(sa.select(ingestions)).one()
    assert [tuple(b) for b in batches] == [(2, 1001), (1002, 2001), (2002, 2501)]
    assert (run.status, run.accepted, run.rows_read) == ("completed", 2_500, 2_500)


def test_batches_committed_before_a_broken_row_are_kept(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A row longer than the reader's block cannot be read; make the block small to say so cheaply.
    defaults = csv_records.read_csv.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "block_bytes", 256 << 10)
    rows = [record(f"r{i:05d}", PERSON_A) for i in range(3_000)]
    rows.append(record("huge", PERSON_A, legal_basis="x" * (1 << 20)))
    rows += [record(f"s{i:05d}", PERSON_A) for i in range(10)]
    path = write_csv(tmp_path / "broken.csv", rows)

    with pytest.raises(InvalidInput, match="reading stopped after row"):
        ingest(store, settings, registry, path)

    kept = stored_ids(store)
    assert len(kept) >= 1_000
    assert kept == sorted(f"r{i:05d}" for i in range(len(kept)))
    with store.read() as conn:
        run = conn.execute(sa.select(ingestions)).one()
    assert run.status == "failed"
    assert run.accepted == len(kept)
    assert "reading stopped" in run.error


def test_identifier_of_scheme_other_takes_its_kind_from_the_record_type(
    store: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    add_source(
        store,
        registry,
        "mixed",
        ["court.enforcement_order", "traffic.violation", "market.abnormal_operations"],
    )
    first = [record("a1", "passport:E1234567", identifier_scheme="other")]
    ingest(store, settings, registry, write_csv(tmp_path / "1.csv", first), "mixed")
    with store.read() as conn:
        assert conn.execute(sa.select(subjects.c.kind)).scalar_one() == "unknown"

    second = [
        record(
            "a2",
            "passport:E1234567",
            identifier_scheme="other",
            record_type="traffic.violation",
            **{"attr.case_no": "", "attr.amount": "", "attr.code": "1039"},
        )
    ]
    ingest(store, settings, registry, write_csv(tmp_path / "2.csv", second), "mixed")
    with store.read() as conn:
        assert conn.execute(sa.select(subjects.c.kind)).scalar_one() == "person"

    third = [
        record(
            "a3",
            "passport:E1234567",
            identifier_scheme="other",
            record_type="market.abnormal_operations",
            **{"attr.case_no": "", "attr.amount": ""},
        )
    ]
    result = ingest(store, settings, registry, write_csv(tmp_path / "3.csv", third), "mixed")
    assert result.rejects_path is not None
    [reject] = read_rejects(result.rejects_path)
    assert reject["field"] == "subject_kind"
    assert reject["reason"] == (
        "the subject this identifier names is a person, but this record is about an "
        "organisation (by its record type or subject_kind)"
    )


def test_concurrent_ingesters_neither_lose_nor_duplicate(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    add_source(store, registry, "court2", COURT_TYPES)
    # Both files name the same new subjects, so the two writers race to create them.
    rows = [record(f"r{i:04d}", resident_id(i % 300)) for i in range(3_000)]
    orgs = [
        record(f"o{i:04d}", uscc(i % 200), identifier_scheme="cn_uscc", name="某某有限公司")
        for i in range(1_000)
    ]
    path = write_csv(tmp_path / "same.csv", rows + orgs)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(source: str, copy: int) -> None:
        try:
            target = tmp_path / f"{source}-{copy}.csv"
            target.write_bytes(path.read_bytes())
            results.append(ingest_file(store, settings, registry, target, source, today=TODAY))
        except BaseException as e:
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(s, c)) for s in ("court", "court2") for c in (1, 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sum(r.accepted for r in results) == 2 * 4_000
    assert sum(r.duplicates for r in results) == 2 * 4_000
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one() == 8_000
        assert conn.execute(sa.select(sa.func.count()).select_from(subjects)).scalar_one() == 500


def test_logs_never_carry_identifiers_or_names(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    result = ingest(store, settings, registry, write_csv(tmp_path / "court.csv", mixed_rows()))
    assert result.accepted == 3
    assert f"ingestion {result.ingestion_id} from court" in caplog.text
    for secret in (PERSON_A, PERSON_B, "张三"):
        assert secret not in caplog.text


def test_repeats_across_batches_of_one_file_follow_the_same_rule(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    # settings.ingest_batch_rows is 1,000: the repeats below land in the second batch.
    rows = [record(f"r{i:04d}", PERSON_A) for i in range(1_200)]
    rows.append(record("r0000", PERSON_A))  # exact repeat of row 2: a duplicate
    rows.append(record("r0001", PERSON_A, **{"attr.amount": "1"}))  # changed repeat: refused
    result = ingest(store, settings, registry, write_csv(tmp_path / "f.csv", rows))

    assert (result.accepted, result.rejected, result.duplicates) == (1_200, 1, 1)
    assert result.rejects_path is not None
    [reject] = read_rejects(result.rejects_path)
    assert (reject["row"], reject["field"]) == ("1203", "source_record_id")
    assert reject["reason"].startswith("was accepted before with different content")


def test_a_json_lines_row_with_an_identifier_as_its_id_never_repeats_it(
    store: Store,
    settings: Settings,
    registry: Registry,
    court: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    leaking = as_object(record(PERSON_B, PERSON_A))
    leaking["notes"] = "an unknown key, so the row is refused while it is being read"
    long_id = as_object(record("x" * 300, PERSON_A))
    long_id["notes"] = "likewise"
    path = tmp_path / "f.jsonl"
    write_jsonl(path, [record("ok", PERSON_A)])
    with path.open("ab") as f:
        f.write(orjson.dumps(leaking) + b"\n" + orjson.dumps(long_id) + b"\n")

    result = ingest(store, settings, registry, path)

    assert (result.accepted, result.rejected) == (1, 2)
    assert result.rejects_path is not None
    written = result.rejects_path.read_text(encoding="utf-8")
    with store.read() as conn:
        kept = repr(conn.execute(sa.select(rejects_table)).all())
        run = repr(conn.execute(sa.select(ingestions)).all())
    for text in (written, kept, run, caplog.text):
        assert PERSON_B not in text
        assert PERSON_A not in text


def test_attributes_are_stored_with_their_keys_in_order_whatever_the_files_order(
    store: Store, settings: Settings, registry: Registry, court: str, tmp_path: Path
) -> None:
    """Stored in the ledger's canonical order, so that verify can hash SQLite's rendering of a
    record as it is (jsonb on PostgreSQL keeps an order of its own)."""
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL's jsonb stores keys in an order of its own")
    row = record("r1", PERSON_A)
    assert list(row).index("attr.case_no") < list(row).index("attr.amount")  # file: unsorted
    ingest(store, settings, registry, write_csv(tmp_path / "a.csv", [row]))

    with store.read() as conn:
        stored = conn.execute(sa.text("SELECT attributes FROM records")).scalar_one()

    assert stored == '{"amount":12000.5,"case_no":"(2025)京0105执r1号"}'

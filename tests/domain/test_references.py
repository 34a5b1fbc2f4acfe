"""What `refers_to` may name (candor.domain.references)."""

from __future__ import annotations

from datetime import date

from candor.domain.references import (
    DECIDED_BEFORE,
    NOT_EARLIER,
    OTHER_SUBJECT,
    Referable,
    Reference,
    check_references,
)

D1, D2 = date(2025, 1, 1), date(2025, 6, 1)


def ref(row: int, srid: str, target: str, subject: int = 1, decided: date = D2) -> Reference:
    return Reference(row, srid, target, subject, decided)


def test_a_stored_record_of_the_same_subject_decided_earlier_can_be_named() -> None:
    kept, refusals = check_references([ref(5, "b", "a")], {"a": Referable(1, D1)}, {}, {})
    assert (kept, refusals) == (["b"], [])


def test_another_subjects_record_cannot_be_named() -> None:
    kept, refusals = check_references(
        [ref(5, "b", "a", subject=2)], {"a": Referable(1, D1)}, {}, {}
    )
    assert kept == []
    assert [(r.row, r.reason) for r in refusals] == [(5, OTHER_SUBJECT)]


def test_a_record_cannot_be_decided_before_the_one_it_names() -> None:
    kept, refusals = check_references(
        [ref(5, "b", "a", decided=D1)], {"a": Referable(1, D2)}, {}, {}
    )
    assert kept == []
    assert [r.reason for r in refusals] == [DECIDED_BEFORE]


def test_within_a_batch_only_earlier_rows_count() -> None:
    batch = {"a": Referable(1, D1, row=4), "c": Referable(1, D1, row=9)}
    kept, refusals = check_references([ref(5, "b", "a"), ref(6, "d", "c")], {}, batch, {})
    assert kept == ["b"]
    assert [(r.source_record_id, r.reason) for r in refusals] == [("d", NOT_EARLIER)]


def test_refusals_cascade_down_a_chain_in_file_order() -> None:
    refs = [ref(7, "z", "y"), ref(6, "y", "x"), ref(5, "x", "w", subject=2)]
    batch = {"x": Referable(2, D1, row=5), "y": Referable(1, D1, row=6)}
    kept, refusals = check_references(refs, {"w": Referable(1, D1)}, batch, {})
    assert kept == []
    assert [(r.source_record_id, r.reason) for r in refusals] == [
        ("x", OTHER_SUBJECT),
        ("y", "names the record of row 5, which was rejected"),
        ("z", "names the record of row 6, which was rejected"),
    ]


def test_rows_refused_for_other_reasons_are_skipped_and_named() -> None:
    kept, refusals = check_references(
        [ref(5, "b", "a"), ref(6, "c", "x")], {}, {"a": Referable(1, D1, row=4)}, {"a": 4, "c": 6}
    )
    assert kept == []
    assert [(r.source_record_id, r.reason) for r in refusals] == [
        ("b", "names the record of row 4, which was rejected")
    ]

"""The column checks' vectorised check characters say what the scalar helpers say."""

from __future__ import annotations

import random

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from candor.domain import identifier_columns as ic
from candor.domain import identifiers as ids


def _rid_ok(values: list[str | None]) -> list[bool | None]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    return frame.select(ic._resident_id_check_ok(pl.col("v"))).to_series().to_list()


def _uscc_ok(values: list[str | None]) -> list[bool | None]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    return frame.select(ic._uscc_check_ok(pl.col("v"))).to_series().to_list()


def test_resident_id_check_matches_the_scalar_check_char() -> None:
    rng = random.Random(11)
    values = []
    for _ in range(20_000):
        body = "".join(rng.choice("0123456789") for _ in range(17))
        # half with the right check character, half with any other
        check = (
            ids.resident_id_check_char(body) if rng.random() < 0.5 else rng.choice("0123456789X")
        )
        values.append(body + check)
    expected = [ids.resident_id_check_char(v[:17]) == v[17] for v in values]
    assert _rid_ok(values) == expected
    assert any(expected)
    assert not all(expected)


def test_uscc_check_matches_the_scalar_check_char() -> None:
    rng = random.Random(12)
    values = []
    for _ in range(20_000):
        body = "".join(rng.choice(ids.USCC_ALPHABET) for _ in range(17))
        check = ids.uscc_check_char(body) if rng.random() < 0.5 else rng.choice(ids.USCC_ALPHABET)
        values.append(body + check)
    expected = [ids.uscc_check_char(v[:17]) == v[17] for v in values]
    assert _uscc_ok(values) == expected


def test_values_of_other_lengths_fail_and_nulls_stay_null() -> None:
    valid = "11010519491231002X"
    assert ids.resident_id_check_char(valid[:17]) == "X"
    values: list[str | None] = [valid, valid[:-1], valid + "1", "", None, "１" * 6, "é" * 9]
    assert _rid_ok(values) == [True, False, False, False, None, False, False]


@given(st.lists(st.text(alphabet="0123456789X", min_size=18, max_size=18), max_size=50))
def test_any_digit_strings(values: list[str]) -> None:
    expected = [v[:17].isdigit() and ids.resident_id_check_char(v[:17]) == v[17] for v in values]
    # a body with an X is refused by the shape rule before the check character is looked at
    got = _rid_ok(values)
    assert [g for g, v in zip(got, values, strict=True) if v[:17].isdigit()] == [
        e for e, v in zip(expected, values, strict=True) if v[:17].isdigit()
    ]

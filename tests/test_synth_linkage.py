"""The identity-resolution population: person records whose corruptions are what their truth
column says, from a clean first record per person, the same for the same seed."""

from __future__ import annotations

from collections import Counter
from datetime import date

import polars as pl
import pytest
from pypinyin import Style, lazy_pinyin

from candor.domain.identifiers import InvalidIdentifier, parse_identifier
from candor.synth.linkage import RATES, Corruption, LinkageRecords, person_records

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def made() -> LinkageRecords:
    return person_records(3_000, seed=7, today=TODAY)


def _clean(made: LinkageRecords) -> dict[int, dict[str, object]]:
    """Each person's clean record (the first one, which carries no corruption)."""
    clean = made.table.filter(pl.col("corruptions").list.len() == 0)
    return {row["person"]: row for row in clean.unique("person", keep="first").to_dicts()}


def _tagged(made: LinkageRecords, corruption: Corruption) -> list[dict[str, object]]:
    return made.table.filter(pl.col("corruptions").list.contains(corruption.value)).to_dicts()


def test_every_person_has_a_clean_record_and_ids_are_unique(made: LinkageRecords) -> None:
    assert made.table.get_column("person").n_unique() == made.persons
    assert len(_clean(made)) == made.persons
    assert made.table.get_column("record_id").is_unique().all()
    assert made.table.height > made.persons  # some persons appear more than once
    sizes = Counter(made.table.get_column("person").to_list())
    assert made.true_pairs() == sum(n * (n - 1) // 2 for n in sizes.values()) > 0


def test_the_same_seed_gives_the_same_records() -> None:
    first = person_records(200, seed=3, today=TODAY).table
    assert first.equals(person_records(200, seed=3, today=TODAY).table)
    assert not first.equals(person_records(200, seed=4, today=TODAY).table)


def test_each_corruption_is_what_its_tag_says(made: LinkageRecords) -> None:
    clean = _clean(made)
    for row in _tagged(made, Corruption.ROMANISED):
        # "Zhang Xiaoming", "ZHANG Xiaoming" or "Xiaoming Zhang": the clean name's pinyin.
        first, second = str(row["name"]).lower().split()
        own = "".join(lazy_pinyin(str(clean[row["person"]]["name"]), style=Style.NORMAL))
        assert own in (first + second, second + first)
    for row in _tagged(made, Corruption.HOMOPHONE):
        original = str(clean[row["person"]]["name"])
        if str(row["name"]).isascii():
            continue  # romanised as well: the homophone is in the pinyin, heard the same
        assert row["name"] != original
        assert lazy_pinyin(row["name"], style=Style.NORMAL) == lazy_pinyin(
            original, style=Style.NORMAL
        )
    for row in _tagged(made, Corruption.IDENTIFIER_MISSING):
        assert row["identifier"] is None
    for row in _tagged(made, Corruption.IDENTIFIER_MASKED):
        full = str(clean[row["person"]]["identifier"])
        assert row["identifier"] == full[:6] + "********" + full[-4:]
    for row in _tagged(made, Corruption.IDENTIFIER_DAMAGED):
        assert row["identifier"] != clean[row["person"]]["identifier"]
        with pytest.raises(InvalidIdentifier):  # the check character catches every one
            parse_identifier("cn_resident_id", str(row["identifier"]), today=TODAY)
    for row in _tagged(made, Corruption.MOVED):
        assert row["address"] != clean[row["person"]]["address"]
    for row in _tagged(made, Corruption.BIRTH_DATE_MISSING):
        assert row["birth_date"] is None
    for row in _tagged(made, Corruption.BIRTH_DATE_SWAPPED):
        true = date.fromisoformat(str(clean[row["person"]]["birth_date"]))
        assert row["birth_date"] == true.replace(month=true.day, day=true.month).isoformat()
    for row in _tagged(made, Corruption.REGION_MISSING):
        assert row["region_code"] is None
    # A record without a tag is the person's clean record, field for field.
    fields = ("name", "identifier", "birth_date", "region_code", "address")
    for row in made.table.filter(pl.col("corruptions").list.len() == 0).to_dicts():
        assert all(row[f] == clean[row["person"]][f] for f in fields)


def test_corruptions_come_at_about_their_rates(made: LinkageRecords) -> None:
    later = made.table.height - made.persons  # every record after a person's first
    counted = Counter(c for tags in made.table.get_column("corruptions").to_list() for c in tags)
    # The ones that never give way to another (missing wins over damaged and masked, …).
    for corruption in (Corruption.ROMANISED, Corruption.MOVED, Corruption.REGION_MISSING):
        share = counted[corruption.value] / later
        assert abs(share - RATES[corruption]) < 0.03, (corruption, share)
    assert counted[Corruption.IDENTIFIER_DAMAGED.value] > 0
    assert counted[Corruption.HOMOPHONE.value] > 0

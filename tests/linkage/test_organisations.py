"""Organisations: legal forms stripped before names are compared, and a small population in which
the same companies registered under another legal-form suffix are found."""

from __future__ import annotations

import random

import pytest
from faker import Faker

from candor.linkage import (
    Kind,
    comparisons,
    predict,
    prepare,
    prepare_sources,
    train,
)

SUFFIXES = ("有限公司", "有限责任公司")


def test_names_differing_only_in_legal_form_are_one_name() -> None:
    table = prepare(
        [
            {"record_id": "a", "name": "某某科技有限公司"},
            {"record_id": "b", "name": "某某科技有限责任公司"},
            {"record_id": "c", "name": "某某科技股份有限公司"},
            {"record_id": "d", "name": "某某网络有限公司"},
        ],
        Kind.ORGANISATION,
    )
    names = table.column("name_characters").to_pylist()
    assert names[0] == names[1] == names[2] == "某某科技"
    assert names[3] != names[0]


def test_organisations_are_compared_on_their_own_fields() -> None:
    assert [c.create_output_column_name() for c in comparisons(Kind.ORGANISATION)] == [
        "name",
        "region_code",
        "representative",
        "address",
        "identifier",
    ]


@pytest.mark.slow
def test_a_company_under_another_suffix_links_to_itself() -> None:
    fake = Faker("zh_CN")
    fake.seed_instance(7)
    draw = random.Random(7)
    regions = [f"{code}" for code in (110105, 110108, 310104, 440305, 330106, 510107)]
    rows = []
    for i in range(800):
        trade = draw.choice(["科技", "贸易", "建设", "咨询"])
        stem = f"{fake.city_name()}{fake.company_prefix()}{trade}"
        code = "".join(draw.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(18))
        rows.append(
            {
                "record_id": f"o{i}",
                "name": stem + draw.choice(SUFFIXES),
                "region_code": draw.choice(regions),
                "representative": fake.name(),
                "address": fake.street_address(),
                "identifier": code,
            }
        )
    duplicates = []
    for original in rows[:150]:  # the same company, its suffix the other one, code mistyped
        suffix = next(s for s in SUFFIXES if original["name"].endswith(s))
        other = SUFFIXES[1 - SUFFIXES.index(suffix)]
        code = original["identifier"]
        duplicates.append(
            {
                **original,
                "record_id": f"{original['record_id']}-dup",
                "name": original["name"].removesuffix(suffix) + other,
                "identifier": code[:5] + ("X" if code[5] != "X" else "Y") + code[6:],
            }
        )
    prepared = prepare_sources(rows + duplicates, Kind.ORGANISATION)
    model = train(prepared, Kind.ORGANISATION, u_sample_pairs=2e5)
    found = {
        (p.left_id, p.right_id): p for p in predict(model, prepared).pairs(min_probability=0.99)
    }
    true = {(d["record_id"].removesuffix("-dup"), d["record_id"]) for d in duplicates}
    assert len(true & found.keys()) >= 0.95 * len(true)
    assert len(found.keys() - true) <= 0.01 * len(found)
    explained = found[next(iter(true & found.keys()))]
    name = next(c for c in explained.contributions if c.comparison == "name")
    assert name.level == "same characters"

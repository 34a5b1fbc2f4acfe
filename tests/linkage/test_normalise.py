"""The pure normalisation under linkage: names in characters and pinyin, legal forms, codes."""

from __future__ import annotations

import pytest

from candor.linkage import normalise


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("张伟", "weizhang"),
        ("Zhang Wei", "weizhang"),
        ("ZHANG  wei", "weizhang"),
        ("Wei Zhang", "weizhang"),  # Western order
        ("张 伟", "weizhang"),
        ("Ｚｈａｎｇ Ｗｅｉ", "weizhang"),  # full-width Latin
    ],
)
def test_a_chinese_name_and_its_romanisations_share_one_key(written: str, key: str) -> None:
    assert normalise.romanised_key(written) == key


def test_characters_keep_homophones_apart_that_pinyin_joins() -> None:
    assert normalise.romanised_key("张伟") == normalise.romanised_key("章伟")
    assert normalise.name_characters("张伟") != normalise.name_characters("章伟")
    assert normalise.name_characters("张 伟") == normalise.name_characters("张伟") == "张伟"


def test_surnames_are_read_as_surnames_and_u_umlaut_has_one_spelling() -> None:
    assert normalise.romanised_tokens("单雄信")[0] == "shan"  # not "dan"
    assert normalise.romanised_tokens("曾国藩")[0] == "zeng"  # not "ceng"
    assert (
        normalise.romanised("吕布") == normalise.romanised("Lyu Bu") == normalise.romanised("Lü Bu")
    )
    assert normalise.romanised_tokens("José Núñez") == ["jose", "nunez"]


@pytest.mark.parametrize("empty", [None, "", "   ", "，。"])
def test_empty_names_are_none(empty: str | None) -> None:
    assert normalise.name_characters(empty) is None
    assert normalise.romanised_key(empty) is None
    assert normalise.romanised_tokens(empty) == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("某某科技有限公司", "某某科技有限责任公司"),
        ("某某科技股份有限公司", "某某科技"),
        ("某某科技（北京）有限公司", "某某科技(北京)有限责任公司"),
        ("Acme Trading Co., Ltd.", "ACME TRADING COMPANY LIMITED"),
        ("Acme Trading Inc.", "acme trading"),
    ],
)
def test_legal_forms_do_not_keep_one_organisation_apart(a: str, b: str) -> None:
    assert normalise.organisation_name(a) == normalise.organisation_name(b)


def test_what_is_not_a_legal_form_stays() -> None:
    assert normalise.organisation_name("某某科技有限公司") == "某某科技"
    # A branch and a group are other registered units than the company itself.
    assert normalise.organisation_name("某某科技有限公司北京分公司") != "某某科技"
    assert normalise.organisation_name("某某集团有限公司") != normalise.organisation_name(
        "某某有限公司"
    )
    assert normalise.organisation_name("Tesco") == "tesco"  # "co" only as a word
    assert normalise.strip_legal_form("有限公司") == "有限公司"  # nothing but the form: kept


@pytest.mark.parametrize(
    ("given", "iso"),
    [
        ("19900228", "1990-02-28"),
        ("1990-02-28", "1990-02-28"),
        ("1990/2/28", "1990-02-28"),
        ("28.02.1990", None),  # not a form candor reads: no evidence rather than a guess
        ("1990年2月28日", "1990-02-28"),
        ("19900230", None),  # no such day
        ("", None),
        (None, None),
    ],
)
def test_birth_dates_become_iso_or_nothing(given: str | None, iso: str | None) -> None:
    assert normalise.birth_date(given) == iso


def test_identifiers_and_codes_keep_letters_and_digits() -> None:
    assert normalise.identifier(" 110105-19491231-002x ") == "11010519491231002X"
    assert normalise.identifier("－－") is None
    assert normalise.region_code("１１０１０５") == "110105"
    assert normalise.address("北京市 朝阳区，建国路88号") == "北京市 朝阳区 建国路88号"

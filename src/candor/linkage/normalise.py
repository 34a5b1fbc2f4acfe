"""Pure normalisation of the values linkage compares: names, legal forms, identifiers, dates.

Nothing here touches a database or Splink; every function maps a string (or None) to a string
(or None), so that the same record always gives the same comparison columns, on any backend.

Two forms of a name are kept, because each catches what the other misses:

- the *characters* (``name_characters``): NFKC, case-folded, punctuation and spaces removed.
  张伟 and 张 伟 meet; 张伟 and 章伟 do not (different people as often as not).
- the *romanised* form (``romanised_tokens``): Han characters read as toneless pinyin, one
  syllable a token; Latin text folded to lower-case ASCII tokens. 张伟, "Zhang Wei", "ZHANG
  Wei" and "Wei Zhang" all meet on the sorted key ``romanised_key``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from pypinyin import Style, lazy_pinyin

# Legal-form suffixes of organisation names, longest first so that 有限责任公司 is removed whole
# rather than leaving 有限责任 behind 公司. A branch (分公司) is a different registered unit and is
# deliberately not a legal form: stripping it would link a branch to its head office.
# 集团 (group) stays: 某某集团 and 某某有限公司 are different registered companies.
LEGAL_FORMS_ZH = ("股份有限公司", "有限责任公司", "有限公司", "合伙企业", "个人独资企业")
LEGAL_FORMS_LATIN = (
    "company limited",
    "co ltd",
    "co limited",
    "limited company",
    "corporation",
    "incorporated",
    "limited",
    "company",
    "corp",
    "ltd",
    "inc",
    "llc",
    "plc",
    "co",
)
_LATIN_FORM = re.compile(r"(?:\s+(?:" + "|".join(re.escape(f) for f in LEGAL_FORMS_LATIN) + r"))+$")

# Surnames whose everyday reading differs from the surname reading, when they stand first in
# a name: pypinyin reads 单 as "dan", 曾 as "ceng"; as surnames they are Shan and Zeng. A short
# table of the common ones, not a dictionary of all Chinese surnames.
_SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "朴": "piao",
    "查": "zha",
    "盖": "ge",
    "缪": "miao",
    "覃": "qin",
    "翟": "zhai",
    "乐": "yue",
    "尉": "yu",
    "种": "chong",
    "秘": "bi",
    "万": "wan",
    "沈": "shen",
}

# The ü of pinyin is written v (pypinyin, keyboards), yu (passports since 2012: LYU) or u (older
# passports: LU). One spelling for all, so 吕 and "Lyu" and "Lu" meet.
_U_UMLAUT = re.compile(r"^([ln])(?:v|yu|ü|u:)(e?)$")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def fold(text: str | None) -> str | None:
    """NFKC (full-width to half-width), case-folded, whitespace collapsed; None when empty."""
    if text is None:
        return None
    folded = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return folded or None


def _ascii(text: str) -> str:
    """Latin letters without their accents (é → e); other scripts unchanged."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_characters(name: str | None) -> str | None:
    """A name's characters with case, width, spaces and punctuation removed."""
    folded = fold(name)
    if folded is None:
        return None
    return _NOT_WORD.sub("", folded).replace("_", "") or None


def _fold_syllable(token: str) -> str:
    return _U_UMLAUT.sub(r"\1u\2", token)


def romanised_tokens(name: str | None) -> list[str]:
    """A name as lower-case romanised tokens: pinyin syllables for Han characters (a known
    surname reading for the first), Latin words as they are, in the order written."""
    folded = fold(name)
    if folded is None:
        return []
    tokens: list[str] = []
    for position, part in enumerate(_NOT_WORD.split(folded)):
        if not part:
            continue
        if not _HAN.search(part):
            tokens.append(_fold_syllable(_ascii(part)))
            continue
        syllables = lazy_pinyin(part, style=Style.NORMAL, errors="default")
        if position == 0 and part[0] in _SURNAME_READINGS and syllables:
            syllables[0] = _SURNAME_READINGS[part[0]]
        tokens += [_fold_syllable(_ascii(s)) for s in syllables if s.strip()]
    return tokens


def romanised(name: str | None) -> str | None:
    """The romanised tokens run together (张伟 → "zhangwei"): spacing differences vanish."""
    return joined(romanised_tokens(name))


def romanised_key(name: str | None) -> str | None:
    """The romanised tokens sorted and run together: "Wei Zhang" and 张伟 give the same key."""
    return sorted_key(romanised_tokens(name))


def joined(tokens: list[str]) -> str | None:
    return "".join(tokens) or None


def sorted_key(tokens: list[str]) -> str | None:
    return "".join(sorted(tokens)) or None


def strip_legal_form(name: str | None) -> str | None:
    """An organisation name without its legal-form suffix (有限公司, Co., Ltd., Inc …)."""
    folded = fold(name)
    if folded is None:
        return None
    text = _NOT_WORD.sub(" ", folded).strip()
    changed = True
    while changed:  # "…有限公司 Co., Ltd." or a doubled suffix: strip until none is left
        changed = False
        for form in LEGAL_FORMS_ZH:
            if text.endswith(form) and len(text) > len(form):
                text = text[: -len(form)].strip()
                changed = True
        stripped = _LATIN_FORM.sub("", text).strip()
        if stripped and stripped != text:
            text, changed = stripped, True
    return text or None


def organisation_name(name: str | None) -> str | None:
    """The name organisations are compared on: legal form stripped, then only its characters."""
    return name_characters(strip_legal_form(name))


def address(text: str | None) -> str | None:
    """An address folded, with punctuation as single spaces (号, 室 and the like are kept)."""
    folded = fold(text)
    if folded is None:
        return None
    return _SPACE.sub(" ", _NOT_WORD.sub(" ", folded)).strip() or None


def identifier(text: str | None) -> str | None:
    """An identifier as upper-case letters and digits only (spaces, dashes and masks dropped)."""
    if text is None:
        return None
    kept = "".join(c for c in unicodedata.normalize("NFKC", text).upper() if c.isalnum())
    return kept or None


def region_code(text: str | None) -> str | None:
    """A region or post code as its letters and digits, upper-case."""
    return identifier(text)


_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
_DIGITS_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


def birth_date(value: str | date | None) -> str | None:
    """A date as ISO ``YYYY-MM-DD``; a value that is no real date gives None (a corrupt date
    carries no evidence, rather than false evidence)."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    text = value.strip()
    if found := _DIGITS_DATE.match(text):  # the common forms, without strptime's cost
        try:
            return date(*(int(part) for part in found.groups())).isoformat()
        except ValueError:
            return None
    for form in _DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date().isoformat()
        except ValueError:
            continue
    return None

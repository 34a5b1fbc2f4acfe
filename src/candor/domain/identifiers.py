"""External identifier schemes: validation, normalisation and the facts they carry.

- ``cn_resident_id``: the 18-character resident identity number (GB 11643-1999): a six-digit
  region code, the birth date as YYYYMMDD, a three-digit sequence number and an ISO 7064
  MOD 11-2 check character (0-9 or X).
- ``cn_uscc``: the 18-character unified social credit code (GB 32100-2015): registration
  authority, entity type, six-digit region code, nine-character organisation code and a MOD 31
  check character over the alphabet without I, O, S, V and Z.
- ``other``: any other scheme, accepted as given (trimmed, NFC-normalised).

This module checks one identifier at a time; ``candor.domain.identifier_columns`` checks whole
columns with the same rules, and a property test holds the two together.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from candor.domain.regions import PROVINCES
from candor.domain.subjects import SubjectKind


class IdentifierScheme(StrEnum):
    CN_RESIDENT_ID = "cn_resident_id"
    CN_USCC = "cn_uscc"
    OTHER = "other"


SCHEME_KINDS: dict[IdentifierScheme, SubjectKind | None] = {
    IdentifierScheme.CN_RESIDENT_ID: SubjectKind.PERSON,
    IdentifierScheme.CN_USCC: SubjectKind.ORGANISATION,
    IdentifierScheme.OTHER: None,  # the record type (or the row's subject_kind) decides
}

RESIDENT_ID_LENGTH = 18
# ISO 7064 MOD 11-2: weight of position i (0-based, left to right) is 2^(17-i) mod 11.
RESIDENT_ID_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
# Check character indexed by (weighted sum mod 11).
RESIDENT_ID_CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

USCC_LENGTH = 18
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUES: dict[str, int] = {c: i for i, c in enumerate(USCC_ALPHABET)}
# GB 32100-2015: weight of position i is 3^i mod 31.
USCC_WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))

OTHER_MAX_LENGTH = 64
# Trimmed from both ends: ASCII blanks, no-break space and the ideographic (full-width) space.
BLANKS = " \t\r\n\u00a0\u3000"
# Unicode category Cc, written out so the column checks can use the very same class.
CONTROL_CHARS = "[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(CONTROL_CHARS)


# Reasons, shared with the column checks so both paths say exactly the same thing.
UNKNOWN_SCHEME = "unknown identifier scheme; expected cn_resident_id, cn_uscc or other"
EMPTY = "is empty"
OTHER_TOO_LONG = f"is longer than {OTHER_MAX_LENGTH} characters"
OTHER_CONTROL = "contains control characters"
OTHER_LOOKS_CHINESE = (
    "has the shape of a resident ID or unified social credit code; submit it under "
    "cn_resident_id or cn_uscc so that it is checked and finds its subject"
)
# A value under scheme `other` that a Chinese scheme would recognise. Accepting it would create
# a second subject for someone already known by that identifier.
CHINESE_SHAPE = r"(?i)^([0-9]{17}[0-9X]|[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10})$"
RID_LENGTH = f"a resident ID has {RESIDENT_ID_LENGTH} characters"
RID_SHAPE = "a resident ID is 17 digits followed by a digit or X"
RID_PROVINCE = "region code does not start with a known province code"
RID_BIRTH_DATE = "birth date is not a calendar date"
RID_BIRTH_RANGE = "birth date is before 1900 or in the future"
RID_CHECK = "check character does not match (ISO 7064 MOD 11-2)"
USCC_LENGTH_REASON = f"a unified social credit code has {USCC_LENGTH} characters"
USCC_SHAPE = (
    "a unified social credit code uses only digits and the letters A-H, J-N, P-R, T, U, W-Y"
)
USCC_REGION = "characters 3-8 (the region code) must be digits"
USCC_CHECK = "check character does not match (GB 32100-2015)"


_CHINESE = re.compile(CHINESE_SHAPE)


class InvalidIdentifier(ValueError):
    """An identifier that fails its scheme's rules. The message never repeats the identifier."""


@dataclass(frozen=True, slots=True)
class ParsedIdentifier:
    """A valid identifier in canonical form, with the facts its scheme encodes."""

    scheme: IdentifierScheme
    value: str
    region_code: str | None = None
    birth_date: date | None = None

    @property
    def subject_kind(self) -> SubjectKind | None:
        return SCHEME_KINDS[self.scheme]


def resident_id_check_char(body: str) -> str:
    """The check character for the first 17 digits of a resident identity number."""
    total = sum(int(ch) * w for ch, w in zip(body, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def uscc_check_char(body: str) -> str:
    """The check character for the first 17 characters of a unified social credit code."""
    total = sum(USCC_VALUES[ch] * w for ch, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def normalise(scheme: IdentifierScheme, raw: str) -> str:
    """Canonical text of an identifier: trimmed; upper case for the Chinese schemes."""
    text = raw.strip(BLANKS)
    if scheme is IdentifierScheme.OTHER:
        return unicodedata.normalize("NFC", text)
    return text.upper()


def parse_identifier(scheme: str, raw: str, *, today: date) -> ParsedIdentifier:
    """Validate and normalise one identifier.

    Raises:
        InvalidIdentifier: naming the rule that failed, never the identifier itself.
    """
    try:
        kind = IdentifierScheme(scheme)
    except ValueError:
        raise InvalidIdentifier(UNKNOWN_SCHEME) from None
    value = normalise(kind, raw)
    if kind is IdentifierScheme.CN_RESIDENT_ID:
        return _parse_resident_id(value, today)
    if kind is IdentifierScheme.CN_USCC:
        return _parse_uscc(value)
    if not value:
        raise InvalidIdentifier(EMPTY)
    if len(value) > OTHER_MAX_LENGTH:
        raise InvalidIdentifier(OTHER_TOO_LONG)
    if _CONTROL.search(value):
        raise InvalidIdentifier(OTHER_CONTROL)
    if _CHINESE.match(value):
        raise InvalidIdentifier(OTHER_LOOKS_CHINESE)
    return ParsedIdentifier(kind, value)


def _parse_resident_id(value: str, today: date) -> ParsedIdentifier:
    if len(value) != RESIDENT_ID_LENGTH:
        raise InvalidIdentifier(RID_LENGTH)
    body, check = value[:17], value[17]
    # ASCII only: str.isdigit() also accepts other scripts' digits, which the columns refuse.
    if not (body.isascii() and body.isdigit() and check in RESIDENT_ID_CHECK_CHARS):
        raise InvalidIdentifier(RID_SHAPE)
    if body[:2] not in PROVINCES:
        raise InvalidIdentifier(RID_PROVINCE)
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        raise InvalidIdentifier(RID_BIRTH_DATE) from None
    if not EARLIEST_BIRTH_DATE <= born <= today:
        raise InvalidIdentifier(RID_BIRTH_RANGE)
    if resident_id_check_char(body) != check:
        raise InvalidIdentifier(RID_CHECK)
    return ParsedIdentifier(IdentifierScheme.CN_RESIDENT_ID, value, body[:6], born)


def _parse_uscc(value: str) -> ParsedIdentifier:
    if len(value) != USCC_LENGTH:
        raise InvalidIdentifier(USCC_LENGTH_REASON)
    if any(ch not in USCC_VALUES for ch in value):
        raise InvalidIdentifier(USCC_SHAPE)
    region = value[2:8]
    if not region.isdigit():
        raise InvalidIdentifier(USCC_REGION)
    if uscc_check_char(value[:17]) != value[17]:
        raise InvalidIdentifier(USCC_CHECK)
    return ParsedIdentifier(IdentifierScheme.CN_USCC, value, region)

"""Valid identifiers for the population, and the damage sources do to them.

Check characters are computed over whole arrays with the weights and alphabets of
``candor.domain.identifiers`` (the same tables its ``resident_id_check_char`` and
``uscc_check_char`` use), because a Python call per identifier would dominate the generator's
time at a million persons; the tests hold every generated identifier against
``parse_identifier``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from candor.domain import identifiers as ids

Strings = npt.NDArray[np.str_]
Codes = npt.NDArray[np.uint8]

# GB 11714-1997: the organisation code's own check character (the ninth of nine), over the
# first eight characters with these weights; digits count 0-9, letters A=10 … Z=35.
ORGANISATION_CODE_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
# GB 32100-2015: registration authority 9 is the market regulator; entity types under it.
USCC_AUTHORITY = "9"
ENTERPRISE, SOLE_TRADER, FARMERS_COOPERATIVE = "1", "2", "3"
# Codes issued since 2015 start "MA"; older ones were converted from eight-digit codes.
NEW_CODE_SHARE = 0.6


class Damage(StrEnum):
    """What happened to an identifier on its way into a source's file."""

    NONE = "none"
    TYPO = "typo"  # one digit changed
    TRANSPOSITION = "transposition"  # two adjacent characters swapped
    MISSING_CHECK = "missing_check"  # the check character left off (17 characters)


DAMAGE_SHARES: dict[Damage, float] = {
    Damage.TYPO: 0.5,
    Damage.TRANSPOSITION: 0.3,
    Damage.MISSING_CHECK: 0.2,
}


def _codes(texts: Strings, width: int) -> Codes:
    """ASCII codes of fixed-width strings as an (n, width) array."""
    joined = "".join(texts.tolist()).encode("ascii")
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, width)


def _texts(codes: Codes) -> Strings:
    width = codes.shape[1]
    raw = np.ascontiguousarray(codes).tobytes().decode("ascii")
    return np.array([raw[i : i + width] for i in range(0, len(raw), width)])


def _first_repeat(values: Strings) -> npt.NDArray[np.bool_]:
    """True where a value repeats one earlier in the array."""
    _, first = np.unique(values, return_index=True)
    repeat = np.ones(len(values), dtype=bool)
    repeat[first] = False
    return repeat


def resident_id_check_chars(bodies: Strings) -> Strings:
    digits = _codes(bodies, 17).astype(np.int64) - ord("0")
    total = digits @ np.array(ids.RESIDENT_ID_WEIGHTS, dtype=np.int64)
    return np.array(list(ids.RESIDENT_ID_CHECK_CHARS))[total % 11]


def resident_ids(
    rng: np.random.Generator,
    region: Strings,
    born: npt.NDArray[np.int64],
    male: npt.NDArray[np.bool_],
) -> Strings:
    """Unique resident identity numbers (GB 11643-1999).

    The sequence number is odd for men and even for women, as the standard has it; a body that
    repeats an earlier one gets a new sequence number until all are unique.

    Args:
        region: six-digit region codes.
        born: birth dates as days since 1970-01-01.
        male: the sex each sequence number encodes.
    """
    n = len(region)
    birth = np.char.replace(np.datetime_as_string(born.astype("datetime64[D]")), "-", "")
    prefix = np.char.add(region, birth)
    pending = np.ones(n, dtype=bool)
    bodies = np.empty(n, dtype="<U17")
    while pending.any():
        k = int(pending.sum())
        sequence = rng.integers(0, 500, size=k) * 2 + np.where(male[pending], 1, 0)
        bodies[pending] = np.char.add(prefix[pending], np.char.zfill(sequence.astype(str), 3))
        pending = _first_repeat(bodies)
    return np.char.add(bodies, resident_id_check_chars(bodies))


def _organisation_codes(rng: np.random.Generator, n: int) -> Strings:
    """Nine-character organisation codes with a correct GB 11714 check character."""
    letters = np.frombuffer(ids.USCC_ALPHABET.encode("ascii"), dtype=np.uint8)
    digits = letters[:10]
    body = digits[rng.integers(0, 10, size=(n, 8))]
    new = rng.random(n) < NEW_CODE_SHARE
    body[new, 0] = ord("M")
    body[new, 1] = ord("A")
    body[new, 2:] = letters[rng.integers(0, len(letters), size=(int(new.sum()), 6))]
    values = np.where(body >= ord("A"), body.astype(np.int64) - 55, body.astype(np.int64) - 48)
    check = 11 - (values @ ORGANISATION_CODE_WEIGHTS) % 11
    check_char = np.where(check == 10, ord("X"), np.where(check == 11, ord("0"), check + 48))
    return _texts(np.column_stack([body, check_char.astype(np.uint8)]))


def _uscc_check_chars(bodies: Strings) -> Strings:
    lookup = np.zeros(128, dtype=np.int64)
    for ch, value in ids.USCC_VALUES.items():
        lookup[ord(ch)] = value
    total = lookup[_codes(bodies, 17)] @ np.array(ids.USCC_WEIGHTS, dtype=np.int64)
    return np.array(list(ids.USCC_ALPHABET))[(31 - total % 31) % 31]


def usccs(rng: np.random.Generator, region: Strings, entity_type: Strings) -> Strings:
    """Unique unified social credit codes (GB 32100-2015) issued by the market regulator."""
    n = len(region)
    head = np.char.add(np.char.add(USCC_AUTHORITY, entity_type), region)
    bodies = np.char.add(head, _organisation_codes(rng, n))
    while (repeat := _first_repeat(bodies)).any():
        bodies[repeat] = np.char.add(head[repeat], _organisation_codes(rng, int(repeat.sum())))
    return np.char.add(bodies, _uscc_check_chars(bodies))


def damaged(rng: np.random.Generator, identifier: str, damage: Damage) -> str:
    """The identifier as a careless clerk might type it."""
    if damage is Damage.MISSING_CHECK:
        return identifier[:-1]
    chars = list(identifier)
    if damage is Damage.TYPO:
        positions = [i for i, ch in enumerate(chars) if ch.isdigit()]
        at = positions[int(rng.integers(len(positions)))]
        digit = int(chars[at])
        chars[at] = str((digit + int(rng.integers(1, 10))) % 10)
    elif damage is Damage.TRANSPOSITION:
        positions = [i for i in range(len(chars) - 1) if chars[i] != chars[i + 1]]
        at = positions[int(rng.integers(len(positions)))]
        chars[at], chars[at + 1] = chars[at + 1], chars[at]
    return "".join(chars)


def typo_passed_off(rng: np.random.Generator, identifier: str, scheme: str) -> str:
    """A typo in the body whose check character the source's software then recomputed.

    The check characters of both schemes catch every single typo and every adjacent
    transposition, so only this way does a wrong identifier pass as well-formed: the hardest
    case for linkage, since nothing but the name and the facts betray it.
    """
    body = damaged(rng, identifier[:17], Damage.TYPO)
    if scheme == ids.IdentifierScheme.CN_RESIDENT_ID:
        return body + ids.resident_id_check_char(body)
    return body + ids.uscc_check_char(body)


def still_valid(scheme: str, identifier: str, today: date) -> bool:
    """Whether a damaged identifier happens to pass its scheme's checks all the same."""
    try:
        ids.parse_identifier(scheme, identifier, today=today)
    except ids.InvalidIdentifier:
        return False
    return True

"""Identifiers on records: the subject's own, except on a share damaged on the way in.

About 1.5% of records (records, not subjects: a clerk mistypes one record, not a person) carry
a damaged identifier. Some typos pass as valid identifiers, because the source's software
recomputed the check character. The ground truth flags each damaged identifier, with whether it
still passes its scheme's checks, so the identity-resolution work can be scored.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from candor.synth.identifiers import (
    DAMAGE_SHARES,
    Damage,
    damaged,
    still_valid,
    typo_passed_off,
)

DAMAGE_RATE = 0.015
# Share of typos whose check character the source's software recomputed.
PASSED_OFF_SHARE = 0.1


def identify(
    rng: np.random.Generator, records: pl.DataFrame, subjects: pl.DataFrame, today: date
) -> pl.DataFrame:
    """Add identifier_scheme, identifier, name, subject_key, damage and damaged_still_valid.

    Args:
        records: with a ``subject`` column (subject numbers).
        subjects: the population table, in subject-number order.
    """
    n = records.height
    subject = records.get_column("subject")
    scheme = subjects.get_column("identifier_scheme").gather(subject)
    identifier = subjects.get_column("identifier").gather(subject)
    kinds = list(DAMAGE_SHARES)
    weights = np.array([DAMAGE_SHARES[k] for k in kinds])
    hit = np.flatnonzero(rng.random(n) < DAMAGE_RATE)
    kind_of_hit = [kinds[k] for k in rng.choice(len(kinds), size=len(hit), p=weights)]
    # Few enough (1.5%) that a Python loop costs little, and parse_identifier is the judge.
    passed_off = rng.random(len(hit)) < PASSED_OFF_SHARE
    hurt = [
        typo_passed_off(rng, original, s)
        if kind is Damage.TYPO and recomputed
        else damaged(rng, original, kind)
        for original, s, kind, recomputed in zip(
            identifier.gather(hit).to_list(),
            scheme.gather(hit).to_list(),
            kind_of_hit,
            passed_off.tolist(),
            strict=True,
        )
    ]
    valid_anyway = [
        still_valid(s, text, today)
        for s, text in zip(scheme.gather(hit).to_list(), hurt, strict=True)
    ]
    return records.with_columns(
        scheme,
        identifier.scatter(hit, hurt),
        pl.repeat(Damage.NONE.value, n, eager=True)
        .alias("damage")
        .scatter(hit, [k.value for k in kind_of_hit]),
        pl.repeat(False, n, eager=True).alias("damaged_still_valid").scatter(hit, valid_anyway),
        subjects.get_column("name").gather(subject),
        subjects.get_column("subject_key").gather(subject),
    )

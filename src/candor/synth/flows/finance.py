"""Banks and the financial regulator: overdue cards, loan defaults, guarantees, investigations.

Card delinquency comes in episodes: one record per episode, ``months`` counting its overdue
monthly cycles (Rongcheng deducts per cycle). Banks correct a small share of what they
reported: a later record of the same type referring to the first, with corrected figures, or
overturned when the report was a mistake. Illegal-fundraising investigations start under
review and are later confirmed (final) or closed without a finding (overturned).
"""

from __future__ import annotations

import numpy as np

from candor.domain.records import RecordStatus as Status
from candor.synth import legal
from candor.synth.catalogue import CITY_BANK, FINANCIAL_REGULATOR, RURAL_BANK
from candor.synth.flows.common import Events, Ints, amounts, events, follow_ups, recent_share
from candor.synth.timeline import Floats
from candor.synth.world import World

CARD_RATE = 1.2  # overdue episodes per year per unit of financial intensity
LONGEST_EPISODE_MONTHS = 36
LOAN_DEFAULT_RATE = 0.07
GUARANTOR_RATE = 0.015
# Share of persons' / firms' loans held by the city bank (the rest: the rural bank).
CITY_BANK_SHARE = (0.6, 0.4)
CORRECTED = 0.008
OVERTURNED = 0.003
# Recent reports the customer has objected to, still being checked by the bank.
DISPUTE_DAYS, DISPUTED = 90, 0.05
FUNDRAISING_RATE_PERSONS = 0.0003
FUNDRAISING_RATE_FIRMS = 0.0015
FUNDRAISING_CONFIRMED, FUNDRAISING_CLOSED = 0.30, 0.20


def generate(world: World) -> None:
    rng = world.rng("finance")
    _cards(rng, world)
    _loans(rng, world, "finance.loan_default", LOAN_DEFAULT_RATE, legal.LOAN_DEFAULT, (90, 150))
    _loans(
        rng, world, "finance.guarantor_breach", GUARANTOR_RATE, legal.GUARANTOR_BREACH, (30, 180)
    )
    _investigations(rng, world)


def _cards(rng: np.random.Generator, world: World) -> None:
    behaviour, window = world.behaviour, world.window
    rate = np.where(behaviour.card_holder, behaviour.finance * CARD_RATE, 0.0)
    # The record is made once the episode's cycles have run: the delay depends on ``months``.
    episodes = events(rng, window, world.population.active_from, rate, (0, 0))
    n = len(episodes)
    months = np.minimum(rng.geometric(0.55, size=n), LONGEST_EPISODE_MONTHS).astype(np.int64)
    decided = episodes.occurred + months * 30 + rng.integers(0, 11, size=n)
    episodes = Events(episodes.subject, episodes.occurred, decided)
    # Bigger arrears for longer episodes, less than in proportion (partial payments).
    due = amounts(rng, n, 2_500, 1.0, 50, 1e6) * np.power(months, 0.7, dtype=np.float64)
    keep = decided <= window.today
    episodes, months, due = episodes.take(keep), months[keep], np.round(due[keep], 2)
    _with_corrections(
        rng,
        world,
        CITY_BANK.name,
        "finance.card_overdue_cycle",
        episodes,
        legal.CARD_OVERDUE,
        {"months": months, "amount": due},
        corrected={"months": np.maximum(months - 1, 1), "amount": np.round(due * 0.8, 2)},
    )


def _loans(
    rng: np.random.Generator,
    world: World,
    record_type: str,
    rate: float,
    basis: str,
    lag: tuple[int, int],
) -> None:
    person = world.population.is_person
    found = events(
        rng, world.window, world.population.active_from, world.behaviour.finance * rate, lag
    )
    by_person = person[found.subject]
    n = len(found)
    owed = np.where(
        by_person,
        amounts(rng, n, 60_000, 1.0, 1_000, 5e6),
        amounts(rng, n, 800_000, 1.3, 10_000, 1e9),
    )
    city = rng.random(n) < np.where(by_person, CITY_BANK_SHARE[0], CITY_BANK_SHARE[1])
    for bank, at_bank in ((CITY_BANK.name, city), (RURAL_BANK.name, ~city)):
        _with_corrections(
            rng,
            world,
            bank,
            record_type,
            found.take(at_bank),
            basis,
            {"amount": owed[at_bank]},
            corrected={"amount": np.round(owed[at_bank] * 0.9, 2)},
        )


def _with_corrections(
    rng: np.random.Generator,
    world: World,
    source: str,
    record_type: str,
    found: Events,
    basis: str,
    attributes: dict[str, Ints | Floats],
    *,
    corrected: dict[str, Ints | Floats],
) -> None:
    """Add the records, then corrections (new figures) and retractions (overturned) of a few."""
    out = world.source(source)
    today = world.window.today
    disputed = recent_share(rng, found.decided, today, DISPUTE_DAYS, DISPUTED)
    uid = out.add(
        record_type,
        found.subject,
        found.occurred,
        found.decided,
        basis,
        status=np.where(disputed, Status.UNDER_REVIEW.value, Status.FINAL.value),
        attributes=attributes,
    )
    # One draw decides both, so that no record is both corrected and retracted.
    draw = rng.random(len(found))
    to_fix = (draw < CORRECTED).astype(np.float64)
    to_retract = ((draw >= CORRECTED) & (draw < CORRECTED + OVERTURNED)).astype(np.float64)
    fixed, fixed_on = follow_ups(rng, found.decided, to_fix, 10, 60, today)
    out.add(
        record_type,
        found.subject[fixed],
        found.occurred[fixed],
        fixed_on,
        legal.BANK_CORRECTION,
        refers_to=uid[fixed],
        attributes={k: v[fixed] for k, v in corrected.items()},
    )
    wrong, wrong_on = follow_ups(rng, found.decided, to_retract, 10, 60, today)
    out.add(
        record_type,
        found.subject[wrong],
        found.occurred[wrong],
        wrong_on,
        legal.BANK_CORRECTION,
        status=Status.OVERTURNED.value,
        refers_to=uid[wrong],
        attributes={k: v[wrong] for k, v in attributes.items()},
    )


def _investigations(rng: np.random.Generator, world: World) -> None:
    behaviour = world.behaviour
    rate = np.where(
        world.population.is_person,
        behaviour.finance * FUNDRAISING_RATE_PERSONS,
        (behaviour.finance + behaviour.market) * FUNDRAISING_RATE_FIRMS,
    )
    opened = events(rng, world.window, world.population.active_from, rate, (10, 90))
    out = world.source(FINANCIAL_REGULATOR.name)
    uid = out.add(
        "finance.illegal_fundraising_investigation",
        opened.subject,
        opened.occurred,
        opened.decided,
        legal.ILLEGAL_FUNDRAISING,
        status=Status.UNDER_REVIEW.value,
    )
    outcome = rng.random(len(opened))
    for status, lower, upper in (
        (Status.FINAL, 0.0, FUNDRAISING_CONFIRMED),
        (Status.OVERTURNED, FUNDRAISING_CONFIRMED, FUNDRAISING_CONFIRMED + FUNDRAISING_CLOSED),
    ):
        ends = (outcome >= lower) & (outcome < upper)
        which = np.flatnonzero(ends)
        chosen, decided = follow_ups(rng, opened.decided[which], 1.0, 60, 300, world.window.today)
        which = which[chosen]
        out.add(
            "finance.illegal_fundraising_investigation",
            opened.subject[which],
            opened.occurred[which],
            decided,
            legal.ILLEGAL_FUNDRAISING,
            status=status.value,
            refers_to=uid[which],
        )

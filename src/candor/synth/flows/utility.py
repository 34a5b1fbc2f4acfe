"""Utilities: late fees (the bulk), unpaid-fee rulings, and rare tapping, theft and damage.

Late fees are recorded one billing period at a time, so a chronic late payer collects dozens.
Heating is tapped in the heating season (15 November to 15 March in Shandong).
"""

from __future__ import annotations

import numpy as np

from candor.domain.records import RecordStatus as Status
from candor.synth import legal
from candor.synth.catalogue import UTILITY
from candor.synth.flows.common import Events, amounts, events, follow_ups
from candor.synth.timeline import Days, calendar_year, day_in_year
from candor.synth.world import World

LATE_FEE_RATE = 1.4
RULING_RATE = 0.012
TAPPING_RATE = 0.002
THEFT_RATE = 0.002
DAMAGE_RATE = 0.0006
POWER_THEFT_SHARE = 0.6
HEATING_SEASON_DAYS = 121
BILLING_ERRORS = 0.003


def generate(world: World) -> None:
    rng = world.rng("utility")
    out = world.source(UTILITY.name)
    population, behaviour, window = world.population, world.behaviour, world.window
    person = population.is_person

    def happen(rate: float, lag: tuple[int, int]) -> Events:
        return events(rng, window, population.active_from, behaviour.utility * rate, lag)

    late = happen(LATE_FEE_RATE, (30, 75))
    n = len(late)
    fee = np.where(
        person[late.subject],
        amounts(rng, n, 150, 0.8, 5, 20_000),
        amounts(rng, n, 3_000, 1.2, 50, 1e6),
    )
    uid = out.add(
        "utility.late_fees",
        late.subject,
        late.occurred,
        late.decided,
        legal.for_persons(legal.UTILITY_CONTRACTS, person[late.subject]),
        attributes={"amount": fee},
    )
    wrong, wrong_on = follow_ups(rng, late.decided, BILLING_ERRORS, 5, 40, window.today)
    out.add(
        "utility.late_fees",
        late.subject[wrong],
        late.occurred[wrong],
        wrong_on,
        "Billing error corrected by the supplier",
        status=Status.OVERTURNED.value,
        refers_to=uid[wrong],
        attributes={"amount": fee[wrong]},
    )

    rulings = happen(RULING_RATE, (90, 400))
    n = len(rulings)
    out.add(
        "utility.unpaid_fees_ruling",
        rulings.subject,
        rulings.occurred,
        rulings.decided,
        legal.for_persons(legal.UNPAID_FEES_RULING, person[rulings.subject]),
        attributes={
            "amount": np.where(
                person[rulings.subject],
                amounts(rng, n, 1_500, 0.8, 100, 1e5),
                amounts(rng, n, 20_000, 1.0, 500, 1e8),
            )
        },
    )

    tapping = happen(TAPPING_RATE, (5, 60))
    occurred = _in_heating_season(
        tapping.occurred, window.opening(population.active_from[tapping.subject])
    )
    out.add(
        "utility.heating_tapping",
        tapping.subject,
        occurred,
        tapping.decided,
        legal.for_persons(legal.HEATING_TAPPING, person[tapping.subject]),
    )

    theft = happen(THEFT_RATE, (5, 90))
    power = rng.random(len(theft)) < POWER_THEFT_SHARE
    out.add(
        "utility.theft",
        theft.subject,
        theft.occurred,
        theft.decided,
        legal.for_persons(
            np.where(power, legal.POWER_THEFT, legal.OTHER_THEFT), person[theft.subject]
        ),
    )

    damage = happen(DAMAGE_RATE, (5, 60))
    out.add(
        "utility.equipment_damage",
        damage.subject,
        damage.occurred,
        damage.decided,
        legal.for_persons(legal.EQUIPMENT_DAMAGE, person[damage.subject]),
    )


def _in_heating_season(occurred: Days, earliest: Days) -> Days:
    """Move each date back into the heating season it falls in or last followed."""
    year = calendar_year(occurred)
    start = day_in_year(year, 11, 15)
    start = np.where(occurred < start, day_in_year(year - 1, 11, 15), start)
    moved = start + (occurred - start) % HEATING_SEASON_DAYS
    return np.where(moved >= earliest, moved, occurred)

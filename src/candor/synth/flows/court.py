"""The court: enforcement cases and the list of dishonest judgment debtors, contract judgments.

An enforcement case opens with an order; in some cases the debtor is found to meet a ground of
Art. 1 of Fa Shi [2017] No. 7 (mostly ground 1, able to pay but refusing); later the obligation
is performed, a settlement is performed, or enforcement ends for want of assets, each record
naming the finding (or, where there was none, the order) in ``refers_to`` and carrying the
case number. A few findings are later corrected as erroneous (Art. 12).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from candor.domain.records import RecordStatus as Status
from candor.synth import legal
from candor.synth.catalogue import COURT
from candor.synth.flows.common import (
    Events,
    Ints,
    Strings,
    amounts,
    choose,
    events,
    follow_ups,
    occurred_before,
    recent_share,
)
from candor.synth.timeline import Days, Floats, calendar_year
from candor.synth.world import World

ENFORCEMENT_RATE = 0.15  # orders per year per unit of legal intensity
BREACH_RATE = 0.08
# Court codes in case numbers: Rongcheng People's Court, Huancui District People's Court,
# Weihai Intermediate People's Court (first-instance for the largest sums).
HOME_COURT, NEIGHBOUR_COURT, INTERMEDIATE_COURT = "鲁1082", "鲁1002", "鲁10"
INTERMEDIATE_THRESHOLD = 5_000_000.0
# Grounds of Art. 1; ground 1 (able but refusing) is by far the most common.
GROUNDS = {"1": 0.62, "2": 0.04, "3": 0.08, "4": 0.17, "5": 0.06, "6": 0.03}
# Violent resistance (2) and hiding assets (3) are aggravated more often: about 10% overall.
AGGRAVATED = {2: 0.25, 3: 0.25}
AGGRAVATED_OTHERWISE = 0.07
# How findings end (the rest are still open).
FINDING_OUTCOMES = {"performed": 0.30, "settled": 0.12, "no_assets": 0.18, "open": 0.40}
ORDER_OUTCOMES = {"performed": 0.55, "no_assets": 0.12, "open": 0.33}
CORRECTED_FINDINGS = 0.015
# A first-instance judgment can be appealed within 15 days: recent ones are often still open.
APPEAL_DAYS, APPEALED = 30, 0.4


def case_numbers(rng: np.random.Generator, court: Strings, decided: Days, kind: str) -> Strings:
    """Case numbers like （2023）鲁1082执1234号: per court and year, in order of filing.

    The sequence skips numbers, because a court's other cases (not in this file) take them.
    """
    n = len(court)
    frame = pl.DataFrame(
        {
            "i": np.arange(n),
            "court": court,
            "year": calendar_year(decided),
            "decided": decided,
            "gap": rng.integers(1, 4, size=n),
        }
    )
    numbered = frame.sort("court", "year", "decided", "i").with_columns(
        pl.col("gap").cum_sum().over("court", "year").alias("seq")
    )
    numbered = numbered.sort("i").select(
        pl.format("（{}）{}{}{}号", "year", "court", pl.lit(kind), "seq").alias("case_no")
    )
    return numbered.to_series().to_numpy().astype(str)


def _courts(rng: np.random.Generator, amount: Floats) -> Strings:
    local = np.where(rng.random(len(amount)) < 0.9, HOME_COURT, NEIGHBOUR_COURT)
    return np.where(amount > INTERMEDIATE_THRESHOLD, INTERMEDIATE_COURT, local)


def _sums(rng: np.random.Generator, world: World, subject: Ints) -> Floats:
    person = world.population.is_person[subject]
    n = len(subject)
    of_persons = amounts(rng, n, 30_000, 1.2, 500, 2e7)
    of_firms = amounts(rng, n, 250_000, 1.6, 2_000, 5e8)
    return np.where(person, of_persons, of_firms)


def generate(world: World) -> None:
    rng = world.rng("court")
    out = world.source(COURT.name)
    window, behaviour = world.window, world.behaviour
    active_from = world.population.active_from
    today = window.today

    orders = events(rng, window, active_from, behaviour.legal * ENFORCEMENT_RATE, (7, 60))
    amount = _sums(rng, world, orders.subject)
    case_no = case_numbers(rng, _courts(rng, amount), orders.decided, "执")
    order_uid = out.add(
        "court.enforcement_order",
        orders.subject,
        orders.occurred,
        orders.decided,
        legal.enforcement_order(orders.decided),
        attributes={"case_no": case_no, "amount": amount},
    )

    # Findings: more likely the deeper the debtor's trouble.
    intensity = behaviour.legal[orders.subject]
    found, found_on = follow_ups(
        rng, orders.decided, 0.2 + 0.3 * intensity / (1 + intensity), 30, 150, today
    )
    ground = choose(rng, len(found), GROUNDS).astype(np.int64)
    aggravation = np.array([AGGRAVATED.get(int(g), AGGRAVATED_OTHERWISE) for g in ground])
    aggravated = rng.random(len(found)) < aggravation
    finding = Events(
        orders.subject[found],
        occurred_before(rng, found_on, orders.decided[found] + 1, 60),
        found_on,
    )
    under_objection = recent_share(rng, finding.decided, today, 30, 0.3)
    finding_uid = out.add(
        "court.dishonest_debtor_finding",
        finding.subject,
        finding.occurred,
        finding.decided,
        legal.dishonest_debtor_finding(ground, aggravated, finding.decided),
        status=np.where(under_objection, Status.UNDER_REVIEW.value, Status.FINAL.value),
        attributes={"case_no": case_no[found], "ground": ground, "aggravated": aggravated},
    )

    corrected, corrected_on = follow_ups(rng, finding.decided, CORRECTED_FINDINGS, 10, 90, today)
    out.add(
        "court.dishonest_debtor_finding",
        finding.subject[corrected],
        finding.occurred[corrected],
        corrected_on,
        legal.LISTING_CORRECTED,
        status=Status.OVERTURNED.value,
        refers_to=finding_uid[corrected],
        attributes={
            "case_no": case_no[found][corrected],
            "ground": ground[corrected],
            "aggravated": aggravated[corrected],
        },
    )

    standing = np.ones(len(found), dtype=bool)
    standing[corrected] = False
    _resolve(
        rng,
        world,
        finding.take(standing),
        finding_uid[standing],
        case_no[found][standing],
        FINDING_OUTCOMES,
        listed=True,
    )

    unlisted = np.ones(len(orders), dtype=bool)
    unlisted[found] = False
    _resolve(
        rng,
        world,
        orders.take(unlisted),
        order_uid[unlisted],
        case_no[unlisted],
        ORDER_OUTCOMES,
        listed=False,
    )

    _contract_breaches(rng, world)


def _resolve(
    rng: np.random.Generator,
    world: World,
    cases: Events,
    uid: Ints,
    case_no: Strings,
    outcomes: dict[str, float],
    *,
    listed: bool,
) -> None:
    """How cases end: each ending refers to the finding (or the order) and keeps the case number."""
    out = world.source(COURT.name)
    outcome = choose(rng, len(cases), outcomes)
    endings = {
        "performed": (
            "court.obligation_performed",
            legal.OBLIGATION_PERFORMED if listed else legal.PERFORMED_BEFORE_LISTING,
        ),
        "settled": ("court.settlement_performed", legal.SETTLEMENT_PERFORMED),
        "no_assets": (
            "court.enforcement_terminated_no_assets",
            legal.TERMINATED_NO_ASSETS if listed else legal.TERMINATED_BEFORE_LISTING,
        ),
    }
    for name, (record_type, basis) in endings.items():
        ends = outcome == name
        chosen, decided = follow_ups(rng, cases.decided[ends], 1.0, 20, 300, world.window.today)
        which = np.flatnonzero(ends)[chosen]
        out.add(
            record_type,
            cases.subject[which],
            occurred_before(rng, decided, cases.decided[which] + 1, 14),
            decided,
            basis,
            refers_to=uid[which],
            attributes={"case_no": case_no[which]},
        )


def _contract_breaches(rng: np.random.Generator, world: World) -> None:
    behaviour = world.behaviour
    breaches = events(
        rng, world.window, world.population.active_from, behaviour.legal * BREACH_RATE, (60, 400)
    )
    amount = _sums(rng, world, breaches.subject)
    court = np.where(rng.random(len(breaches)) < 0.9, HOME_COURT, NEIGHBOUR_COURT)
    appealed = recent_share(rng, breaches.decided, world.window.today, APPEAL_DAYS, APPEALED)
    world.source(COURT.name).add(
        "contract.breach_found",
        breaches.subject,
        breaches.occurred,
        breaches.decided,
        legal.CONTRACT_BREACH,
        status=np.where(appealed, Status.UNDER_REVIEW.value, Status.FINAL.value),
        attributes={
            "case_no": case_numbers(rng, court, breaches.decided, "民初"),
            "amount": amount,
        },
    )

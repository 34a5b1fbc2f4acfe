"""The market regulator: penalties, the abnormal-operations list, commercial fraud findings.

Most enterprises put on the abnormal-operations list missed the annual report due by 30 June
(Interim Regulations on Enterprise Information Publicity Art. 8), so those listings come in
July and August; about half correct and are removed later. A few penalties are revoked on
administrative reconsideration: a later record of the same type, status overturned.
"""

from __future__ import annotations

import numpy as np

from candor.domain.records import RecordStatus as Status
from candor.synth import legal
from candor.synth.catalogue import MARKET_REGULATOR
from candor.synth.flows.common import (
    Events,
    amounts,
    choose,
    events,
    follow_ups,
    recent_share,
)
from candor.synth.timeline import calendar_year, day_in_year
from candor.synth.world import World

PENALTY_RATE = 0.14
HEAVY_SHARE = 0.08
AREAS = {"general": 0.80, "special_equipment": 0.06, "work_safety": 0.08, "fire_safety": 0.06}
REVOKED_PENALTIES = 0.02
ABNORMAL_RATE = 0.09  # listings per year per unit of market intensity (at most one listed)
# SAIC Order No. 68 Art. 4, items 1-4, as the regulator words them.
ABNORMAL_REASONS = {
    "未按照《企业信息公示暂行条例》第八条规定的期限公示年度报告": 0.70,
    "未在责令的期限内公示有关企业信息": 0.05,
    "公示企业信息隐瞒真实情况、弄虚作假": 0.05,
    "通过登记的住所或者经营场所无法联系": 0.20,
}
ANNUAL_REPORT_REASON, *_, UNREACHABLE_REASON = ABNORMAL_REASONS
CLEARED_SHARE = 0.55
FRAUD_RATE_FIRMS = 0.008
FRAUD_RATE_PERSONS = 0.0008
FRAUD_KINDS_FIRMS = {"pyramid": 0.08, "fraud": 0.35, "counterfeit": 0.42, "other": 0.15}
FRAUD_KINDS_PERSONS = {"pyramid": 0.45, "fraud": 0.40, "counterfeit": 0.10, "other": 0.05}


def generate(world: World) -> None:
    rng = world.rng("market_regulator")
    _penalties(rng, world)
    _abnormal_operations(rng, world)
    _fraud(rng, world)


def _penalties(rng: np.random.Generator, world: World) -> None:
    out = world.source(MARKET_REGULATOR.name)
    behaviour, today = world.behaviour, world.window.today
    penalties = events(
        rng, world.window, world.population.active_from, behaviour.market * PENALTY_RATE, (15, 120)
    )
    n = len(penalties)
    intensity = behaviour.market[penalties.subject]
    heavy = rng.random(n) < HEAVY_SHARE * np.clip(intensity, 0.5, 3.0)
    area = choose(rng, n, AREAS)
    fine = np.where(
        heavy,
        amounts(rng, n, 200_000, 1.0, 50_000, 5e7),
        amounts(rng, n, 5_000, 1.2, 100, 2e6),
    )
    basis = np.array([legal.ADMIN_PENALTY_AREAS[a] for a in area.tolist()])
    basis = np.char.add(basis, f"; {legal.PENALTY_PUBLICITY}")
    basis = np.where(heavy, np.char.add(basis, f"; {legal.SERIOUS_DISHONESTY}"), basis)
    severity = np.where(heavy, "heavy", "ordinary")
    # Reconsideration can be sought for 60 days; some recent decisions are still under it.
    pending = recent_share(rng, penalties.decided, today, 60, 0.15)
    uid = out.add(
        "market.admin_penalty",
        penalties.subject,
        penalties.occurred,
        penalties.decided,
        basis,
        status=np.where(pending, Status.UNDER_REVIEW.value, Status.FINAL.value),
        attributes={"severity": severity, "area": area, "amount": fine},
    )
    revoked, revoked_on = follow_ups(rng, penalties.decided, REVOKED_PENALTIES, 30, 90, today)
    out.add(
        "market.admin_penalty",
        penalties.subject[revoked],
        penalties.occurred[revoked],
        revoked_on,
        legal.PENALTY_REVOKED,
        status=Status.OVERTURNED.value,
        refers_to=uid[revoked],
        attributes={
            "severity": severity[revoked],
            "area": area[revoked],
            "amount": fine[revoked],
        },
    )


def _abnormal_operations(rng: np.random.Generator, world: World) -> None:
    out = world.source(MARKET_REGULATOR.name)
    window = world.window
    population = world.population
    years = window.years_active(population.active_from)
    listed = rng.random(population.size) < 1 - np.exp(
        -ABNORMAL_RATE * world.behaviour.market * years
    )
    subject = np.flatnonzero(listed).astype(np.int64)
    opening = window.opening(population.active_from[subject])
    n = len(subject)
    reason = choose(rng, n, ABNORMAL_REASONS)
    decided = window.uniform(rng, population.active_from[subject])
    # Annual-report listings: 1 July to 31 August of a year the enterprise already existed,
    # for the report missed on 30 June; where no such summer fits, the firm was unreachable.
    first_year, last_year = calendar_year(opening), calendar_year(np.full(n, window.today))
    year = first_year + (rng.random(n) * (last_year - first_year + 1)).astype(np.int64)
    summer = day_in_year(year, 7, 1) + rng.integers(0, 62, size=n)
    report = reason == ANNUAL_REPORT_REASON
    founded = population.active_from[subject]
    fits = (summer >= np.maximum(founded + 365, window.start)) & (summer <= window.today)
    decided = np.where(report & fits, summer, decided)
    reason = np.where(report & ~fits, UNREACHABLE_REASON, reason)
    occurred = np.where(
        reason == ANNUAL_REPORT_REASON,
        np.maximum(day_in_year(calendar_year(decided), 6, 30), window.start),
        np.maximum(decided - rng.integers(10, 60, size=n), opening),
    )
    listing = Events(subject, occurred, decided)
    uid = out.add(
        "market.abnormal_operations",
        listing.subject,
        listing.occurred,
        listing.decided,
        legal.ABNORMAL_OPERATIONS,
        attributes={"reason": reason},
    )
    cleared, cleared_on = follow_ups(rng, listing.decided, CLEARED_SHARE, 20, 250, window.today)
    out.add(
        "market.abnormal_operations_cleared",
        listing.subject[cleared],
        np.maximum(cleared_on - rng.integers(0, 20, size=len(cleared)), listing.decided[cleared]),
        cleared_on,
        legal.ABNORMAL_OPERATIONS_CLEARED,
        refers_to=uid[cleared],
    )


def _fraud(rng: np.random.Generator, world: World) -> None:
    behaviour = world.behaviour
    person = world.population.is_person
    rate = np.where(
        person,
        (behaviour.finance + behaviour.legal) * FRAUD_RATE_PERSONS,
        (behaviour.market + behaviour.legal) * FRAUD_RATE_FIRMS,
    )
    found = events(rng, world.window, world.population.active_from, rate, (30, 180))
    n = len(found)
    by_person = person[found.subject]
    kind = np.where(
        by_person, choose(rng, n, FRAUD_KINDS_PERSONS), choose(rng, n, FRAUD_KINDS_FIRMS)
    )
    severity = 1 + rng.binomial(9, 0.3, size=n)
    world.source(MARKET_REGULATOR.name).add(
        "commerce.fraud_finding",
        found.subject,
        found.occurred,
        found.decided,
        np.array([legal.FRAUD_KINDS[k] for k in kind.tolist()]),
        attributes={"kind": kind, "severity": severity.astype(np.int64)},
    )

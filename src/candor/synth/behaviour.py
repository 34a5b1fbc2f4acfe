"""How subjects behave: hidden propensities that the record flows turn into counts.

Most subjects never earn an adverse record; the rest share one heavy-tailed severity (a subject
in trouble tends to be in trouble in several places: unpaid cards, late utility bills, an
enforcement case) scaled per domain. That gives what real registers show: a clean majority and
a few subjects with very many records. A domain's intensity is the expected number of records
per year of a domain's typical record type, relative to the flows' base rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from candor.synth.population import Population
from candor.synth.timeline import Bools, Floats

# Share of subjects with any propensity for adverse records.
PERSONS_AT_RISK = 0.33
ORGANISATIONS_AT_RISK = 0.36
SEVERITY_SIGMA = 0.9  # spread of the shared severity (lognormal)
DOMAIN_SIGMA = 0.6  # spread of each domain around it
# No one is forty times as troublesome as the typical subject in trouble: cut the lognormal's
# far tail, which would otherwise give a driver a thousand tickets.
INTENSITY_CAP = 25.0
# Among subjects at risk, the share active in each domain.
PERSON_DOMAINS = {"traffic": 0.60, "utility": 0.35, "finance": 0.30}
ORGANISATION_DOMAINS = {"market": 0.60, "utility": 0.30, "finance": 0.30}
# Court cases follow money trouble: the chance of a legal domain without and with finance.
PERSON_LEGAL = (0.05, 0.40)
ORGANISATION_LEGAL = (0.10, 0.40)

CONSENT_SHARE = 0.65
CARD_HOLDER_SHARE = 0.55
VOLUNTEER_SHARE = 0.16
RETIRED_VOLUNTEER_FACTOR = 1.7  # retirees volunteer more often
RETIREMENT_AGE = 60
VOLUNTEER_SESSIONS_PER_YEAR = 2.5  # median for a registered volunteer
VOLUNTEER_SIGMA = 0.9


@dataclass(frozen=True)
class Behaviour:
    """Per-subject propensities, indexed by subject number (0 where not applicable)."""

    traffic: Floats  # persons
    utility: Floats
    finance: Floats
    legal: Floats
    market: Floats  # organisations
    volunteer: Floats  # persons: volunteer sessions per year
    consents: Bools  # persons who grant consent to be scored
    card_holder: Bools  # persons holding a credit card with the city bank


def draw(rng: np.random.Generator, population: Population) -> Behaviour:
    n = population.size
    person = population.is_person
    at_risk = rng.random(n) < np.where(person, PERSONS_AT_RISK, ORGANISATIONS_AT_RISK)
    severity = rng.lognormal(0.0, SEVERITY_SIGMA, n)

    def domain(engaged: Bools) -> Floats:
        intensity = np.minimum(severity * rng.lognormal(0.0, DOMAIN_SIGMA, n), INTENSITY_CAP)
        return np.where(engaged & at_risk, intensity, 0.0)

    def engaged(person_share: float, organisation_share: float) -> Bools:
        return rng.random(n) < np.where(person, person_share, organisation_share)

    traffic_on = engaged(PERSON_DOMAINS["traffic"], 0.0)
    market_on = engaged(0.0, ORGANISATION_DOMAINS["market"])
    utility_on = engaged(PERSON_DOMAINS["utility"], ORGANISATION_DOMAINS["utility"])
    finance_on = engaged(PERSON_DOMAINS["finance"], ORGANISATION_DOMAINS["finance"])
    legal_share = np.where(
        person,
        np.where(finance_on, PERSON_LEGAL[1], PERSON_LEGAL[0]),
        np.where(finance_on, ORGANISATION_LEGAL[1], ORGANISATION_LEGAL[0]),
    )
    legal_on = rng.random(n) < legal_share
    # A subject at risk is at risk somewhere: give one with no domain its kind's usual one.
    idle = ~(traffic_on | market_on | utility_on | finance_on | legal_on)
    traffic_on |= idle & person
    market_on |= idle & ~person

    age = population.age_years
    volunteer_share = VOLUNTEER_SHARE * np.where(age >= RETIREMENT_AGE, RETIRED_VOLUNTEER_FACTOR, 1)
    volunteers = person & (rng.random(n) < volunteer_share)
    rate = rng.lognormal(np.log(VOLUNTEER_SESSIONS_PER_YEAR), VOLUNTEER_SIGMA, n)
    return Behaviour(
        traffic=domain(traffic_on),
        utility=domain(utility_on),
        finance=domain(finance_on),
        legal=domain(legal_on),
        market=domain(market_on),
        volunteer=np.where(volunteers, rate, 0.0),
        consents=person & (rng.random(n) < CONSENT_SHARE),
        card_holder=person & (rng.random(n) < CARD_HOLDER_SHARE),
    )

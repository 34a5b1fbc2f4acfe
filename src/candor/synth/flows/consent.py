"""The credit office: residents' consent to be scored, its withdrawal, and consent given again.

Many residents signed up when the scheme opened, the rest over the years since. A withdrawal
refers to the grant it withdraws; a later grant stands on its own.
"""

from __future__ import annotations

import numpy as np

from candor.synth import legal
from candor.synth.catalogue import CREDIT_OFFICE
from candor.synth.flows.common import delays, follow_ups
from candor.synth.world import World

LAUNCH_SHARE = 0.45  # signed up in the first months of the window
LAUNCH_DAYS = 180
WITHDRAWN = 0.06
GRANTED_AGAIN = 0.35


def generate(world: World) -> None:
    rng = world.rng("credit_office")
    out = world.source(CREDIT_OFFICE.name)
    population, window = world.population, world.window
    today = window.today

    subject = np.flatnonzero(world.behaviour.consents).astype(np.int64)
    n = len(subject)
    opening = window.opening(population.active_from[subject])
    early = opening + (rng.random(n) * LAUNCH_DAYS).astype(np.int64)
    granted = np.where(
        rng.random(n) < LAUNCH_SHARE,
        np.minimum(early, today),
        window.uniform(rng, population.active_from[subject]),
    )
    # Registered the day it is signed, or a few days later when signed on paper.
    registered = np.minimum(granted + delays(rng, n, (0, 3)), today)
    grant = out.add("consent.scoring_granted", subject, granted, registered, legal.CONSENT_GRANTED)

    withdrawn, withdrawn_on = follow_ups(rng, registered, WITHDRAWN, 30, 400, today)
    out.add(
        "consent.scoring_withdrawn",
        subject[withdrawn],
        withdrawn_on,
        withdrawn_on,
        legal.CONSENT_WITHDRAWN,
        refers_to=grant[withdrawn],
    )

    again, again_on = follow_ups(rng, withdrawn_on, GRANTED_AGAIN, 30, 200, today)
    out.add(
        "consent.scoring_granted",
        subject[withdrawn][again],
        again_on,
        again_on,
        legal.CONSENT_GRANTED,
    )

"""The volunteer registry: confirmed service sessions (the largest single volume), heroic acts."""

from __future__ import annotations

import numpy as np

from candor.synth import legal
from candor.synth.catalogue import VOLUNTEER_REGISTRY
from candor.synth.flows.common import choose, events
from candor.synth.world import World

# Hours of one session, as organisers confirm them: mostly a morning or an afternoon.
SESSION_HOURS = {
    "1": 0.08,
    "1.5": 0.07,
    "2": 0.25,
    "2.5": 0.08,
    "3": 0.2,
    "4": 0.18,
    "6": 0.08,
    "8": 0.06,
}
HEROIC_ACTS_PER_YEAR = 0.0002


def generate(world: World) -> None:
    rng = world.rng("volunteer_registry")
    out = world.source(VOLUNTEER_REGISTRY.name)
    population, window = world.population, world.window

    sessions = events(rng, window, population.active_from, world.behaviour.volunteer, (0, 10))
    hours = choose(rng, len(sessions), SESSION_HOURS).astype(np.float64)
    out.add(
        "civic.volunteer_service",
        sessions.subject,
        sessions.occurred,
        sessions.decided,
        legal.VOLUNTEER_SERVICE,
        attributes={"hours": hours},
    )

    rate = np.where(population.is_person, HEROIC_ACTS_PER_YEAR, 0.0)
    acts = events(rng, window, population.active_from, rate, (10, 90))
    out.add("civic.heroic_act", acts.subject, acts.occurred, acts.decided, legal.HEROIC_ACT)

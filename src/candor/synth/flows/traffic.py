"""The traffic police: violation tickets (many, concentrated on a few drivers), drunk driving.

Camera tickets are decided days after the offence, on-the-spot tickets the same day. A few
tickets are revoked on reconsideration: a later ticket record referring to the first, overturned.
"""

from __future__ import annotations

import numpy as np

from candor.domain.records import RecordStatus as Status
from candor.synth import legal
from candor.synth.catalogue import TRAFFIC_POLICE
from candor.synth.flows.common import Events, choose, delays, events, follow_ups, recent_share
from candor.synth.world import World

TICKET_RATE = 1.55  # tickets per year per unit of traffic intensity
ON_THE_SPOT = 0.4
DRUNK_DRIVING_RATE = 0.0008
REVOKED = 0.005
# Tickets contested and not yet decided on (within the 60 days reconsideration can be sought).
CONTESTED_DAYS, CONTESTED = 60, 0.05
# Codes shaped like the national violation codes; candor gives them no meaning, so these are
# illustrative, weighted towards parking and camera offences.
CODES = {
    "1039": 0.28,
    "1625": 0.14,
    "1352": 0.12,
    "1303": 0.08,
    "1344": 0.07,
    "1636": 0.06,
    "1240": 0.06,
    "1223": 0.05,
    "6046": 0.05,
    "1019": 0.04,
    "13453": 0.03,
    "16250": 0.02,
}


def generate(world: World) -> None:
    rng = world.rng("traffic_police")
    out = world.source(TRAFFIC_POLICE.name)
    population, behaviour, window = world.population, world.behaviour, world.window

    offences = events(rng, window, population.active_from, behaviour.traffic * TICKET_RATE, (0, 0))
    n = len(offences)
    lag = np.where(rng.random(n) < ON_THE_SPOT, 0, delays(rng, n, (3, 20)))
    offences = Events(offences.subject, offences.occurred, offences.occurred + lag)
    tickets = offences.take(offences.decided <= window.today)
    decided = tickets.decided
    code = choose(rng, len(tickets), CODES)
    contested = recent_share(rng, decided, window.today, CONTESTED_DAYS, CONTESTED)
    uid = out.add(
        "traffic.violation",
        tickets.subject,
        tickets.occurred,
        decided,
        legal.TRAFFIC_VIOLATION,
        status=np.where(contested, Status.UNDER_REVIEW.value, Status.FINAL.value),
        attributes={"code": code},
    )
    revoked, revoked_on = follow_ups(rng, decided, REVOKED, 15, 60, window.today)
    out.add(
        "traffic.violation",
        tickets.subject[revoked],
        tickets.occurred[revoked],
        revoked_on,
        legal.TICKET_REVOKED,
        status=Status.OVERTURNED.value,
        refers_to=uid[revoked],
        attributes={"code": code[revoked]},
    )

    drunk = events(
        rng, window, population.active_from, behaviour.traffic * DRUNK_DRIVING_RATE, (20, 150)
    )
    out.add(
        "traffic.drunk_driving",
        drunk.subject,
        drunk.occurred,
        drunk.decided,
        legal.DRUNK_DRIVING,
    )

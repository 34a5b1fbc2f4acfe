"""Record flows: how each kind of source's records come about, one module per source kind.

Each flow draws from its own random stream (named after it) and adds its records to the
sources it feeds; the order of the flows does not change what any of them produces.
"""

from __future__ import annotations

from collections.abc import Callable

from candor.synth.flows import civic, consent, court, finance, market, traffic, utility
from candor.synth.world import World

Flow = Callable[[World], None]

FLOWS: tuple[tuple[str, Flow], ...] = (
    ("court cases", court.generate),
    ("market regulation", market.generate),
    ("bank and financial records", finance.generate),
    ("utility records", utility.generate),
    ("traffic tickets", traffic.generate),
    ("volunteer service", civic.generate),
    ("consent to scoring", consent.generate),
)

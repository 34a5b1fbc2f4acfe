"""Everything a record flow needs: the window, the population, its behaviour, the sources."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from candor.synth.behaviour import Behaviour
from candor.synth.population import Population
from candor.synth.records import RecordSet
from candor.synth.timeline import Window


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """An independent random stream per stage of generation.

    Keyed by the stage's name, so that adding draws to one flow leaves every other flow's
    records as they were: a change to traffic tickets must not reshuffle court cases.
    """
    return np.random.default_rng([seed, zlib.crc32(stage.encode("utf-8"))])


@dataclass(frozen=True)
class World:
    seed: int
    window: Window
    population: Population
    behaviour: Behaviour
    sources: Mapping[str, RecordSet]

    def rng(self, stage: str) -> np.random.Generator:
        return stage_rng(self.seed, stage)

    def source(self, name: str) -> RecordSet:
        return self.sources[name]

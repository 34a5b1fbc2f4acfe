"""``generate``: a seeded synthetic jurisdiction, written as its sources' record files.

The same seed, sizes and ``today`` give byte-identical files: every random draw comes from a
numpy stream keyed by the seed and the stage's name, Faker is seeded, and nothing depends on
hash order or the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from faker import Faker

from candor.errors import InvalidInput
from candor.synth import behaviour, damage, population, writer
from candor.synth.catalogue import SOURCES, attribute_names, sample_registry
from candor.synth.flows import FLOWS
from candor.synth.records import RecordSet
from candor.synth.timeline import Window
from candor.synth.world import World, stage_rng

Progress = Callable[[str, int, int], None]
TRUTH_DIR = "truth"


@dataclass(frozen=True)
class SourceFile:
    """One source's record file."""

    source: str  # source name, lower-case [a-z0-9_.-]
    description: str  # who the source is, one line
    mandate: tuple[str, ...]  # record types this source submits (sorted)
    path: Path  # the CONTRACT-format record file (CSV or JSON Lines)
    records: int  # rows written in it


@dataclass(frozen=True)
class Jurisdiction:
    """What ``generate`` wrote."""

    persons: int
    organisations: int
    records: int  # rows over all files
    damaged: int  # rows whose identifier was deliberately damaged
    files: tuple[SourceFile, ...]
    truth_dir: Path  # subjects.csv and records.csv


def generate(
    out_dir: Path,
    *,
    persons: int = 100_000,
    organisations: int = 20_000,
    seed: int = 0,
    today: date,
    on_progress: Progress | None = None,
) -> Jurisdiction:
    """Generate a jurisdiction of ``persons`` and ``organisations`` and write its files.

    Records cover the five years up to ``today``. The files go to ``out_dir`` (one per source,
    ``<source>.csv`` or ``<source>.jsonl``) and the ground truth to ``out_dir/truth``.

    Args:
        on_progress: called with (stage, steps done, steps in all) as generation proceeds.

    Raises:
        InvalidInput: a size below 1 or a negative seed.
    """
    if persons < 1 or organisations < 1:
        raise InvalidInput("a jurisdiction needs at least one person and one organisation")
    if seed < 0:
        raise InvalidInput("the seed must be zero or positive")
    steps = 1 + len(FLOWS) + len(SOURCES) + 1
    done = 0

    def advance(stage: str) -> None:
        nonlocal done
        if on_progress is not None:
            on_progress(stage, done, steps)
        done += 1

    registry = sample_registry()
    out_dir.mkdir(parents=True, exist_ok=True)
    window = Window.ending(today)

    advance("drawing the population")
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    people = population.build(stage_rng(seed, "population"), fake, persons, organisations, today)
    world = World(
        seed=seed,
        window=window,
        population=people,
        behaviour=behaviour.draw(stage_rng(seed, "behaviour"), people),
        sources={spec.name: RecordSet(spec, registry) for spec in SOURCES},
    )
    for stage, flow in FLOWS:
        advance(stage)
        flow(world)

    files: list[SourceFile] = []
    truth: list[pl.DataFrame] = []
    damaged = 0
    for spec in SOURCES:
        advance(f"writing {spec.file_name}")
        frame = world.source(spec.name).finish()
        frame = damage.identify(stage_rng(seed, f"damage:{spec.name}"), frame, people.table, today)
        path = out_dir / spec.file_name
        writer.write_records(frame, spec, attribute_names(spec, registry), path)
        truth.append(writer.truth_records(frame, spec))
        damaged += int((frame.get_column("damage") != "none").sum())
        files.append(SourceFile(spec.name, spec.description, spec.mandate, path, frame.height))

    advance("writing the ground truth")
    truth_dir = out_dir / TRUTH_DIR
    writer.write_truth(people.table, pl.concat(truth), truth_dir)
    if on_progress is not None:
        on_progress("done", steps, steps)
    return Jurisdiction(
        persons=persons,
        organisations=organisations,
        records=sum(f.records for f in files),
        damaged=damaged,
        files=tuple(files),
        truth_dir=truth_dir,
    )

"""Benchmark inputs, built once and cached under ``bench/work/inputs``.

The main input is the demo jurisdiction (``candor.synth.generate``) as ONE record file in the
CONTRACT format: every source's records, each source's in its own file order (so that a
``refers_to`` still names an earlier row), JSON Lines sources turned into CSV rows with the
same text candor's JSON Lines reader makes of their values, and the union of the sources'
``attr.*`` columns. It keeps the generator's deliberately damaged identifiers, so a realistic
share of rows is rejected.

A cached file is reused while its parameters and the generator's source code are unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import polars as pl

import candor.synth
from candor.domain.records import ATTRIBUTE_PREFIX, RECORD_FIELDS, TEXT_FIELDS
from candor.synth import generate

MANIFEST = "manifest.json"
ATTRIBUTES_KEY = "attributes"
Stage = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RecordFile:
    """A generated record file and what is in it."""

    path: Path
    rows: int
    damaged: int  # rows whose identifier the generator damaged on purpose
    persons: int
    organisations: int
    copies: int  # 1, or how many times the jurisdiction's records were repeated
    record_types: tuple[str, ...]  # every record type in the file, sorted

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["path"] = str(self.path)
        doc["record_types"] = list(self.record_types)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RecordFile:
        return cls(
            Path(doc["path"]),
            doc["rows"],
            doc["damaged"],
            doc["persons"],
            doc["organisations"],
            doc["copies"],
            tuple(doc["record_types"]),
        )


def generator_fingerprint() -> str:
    """A hash of the generator's code and data: a changed generator means new inputs."""
    package = Path(candor.synth.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".csv", ".json", ".txt"):
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def jurisdiction_csv(
    work: Path,
    *,
    persons: int = 100_000,
    organisations: int = 20_000,
    seed: int = 0,
    today: date,
    copies: int = 1,
    on_stage: Stage | None = None,
) -> RecordFile:
    """The demo jurisdiction as one CSV, repeated ``copies`` times (built or reused).

    Copies after the first get their ``source_record_id`` and ``refers_to`` prefixed with
    ``R<n>-``: the same subjects, more records, as a source's later years would be.
    """
    parameters = {
        "persons": persons,
        "organisations": organisations,
        "seed": seed,
        "today": today.isoformat(),
        "copies": copies,
        "generator": generator_fingerprint(),
    }
    directory = work / "inputs" / f"jurisdiction-p{persons}-o{organisations}-s{seed}-{today}"
    name = "records.csv" if copies == 1 else f"records-x{copies}.csv"
    manifest = directory / f"{name}.{MANIFEST}"
    if (cached := _cached(manifest, parameters)) is not None:
        return cached

    if copies == 1:
        made = _combined(directory, persons, organisations, seed, today, on_stage)
    else:
        single = jurisdiction_csv(
            work,
            persons=persons,
            organisations=organisations,
            seed=seed,
            today=today,
            on_stage=on_stage,
        )
        made = _repeated(single, copies, directory / name, on_stage)
    manifest.write_text(
        json.dumps({"parameters": parameters, "file": made.to_json()}, indent=2), encoding="utf-8"
    )
    return made


def _cached(manifest: Path, parameters: dict[str, Any]) -> RecordFile | None:
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("parameters") != parameters:
        return None
    made = RecordFile.from_json(doc["file"])
    return made if made.path.is_file() else None


def _combined(
    directory: Path,
    persons: int,
    organisations: int,
    seed: int,
    today: date,
    on_stage: Stage | None,
) -> RecordFile:
    sources = generate(
        directory / "sources",
        persons=persons,
        organisations=organisations,
        seed=seed,
        today=today,
        on_progress=on_stage,
    )
    if on_stage:
        on_stage("concatenating the sources into one CSV", 0, 1)
    frames = [
        _csv_frame(f.path) if f.path.suffix == ".csv" else _jsonl_frame(f.path)
        for f in sources.files
    ]
    combined = pl.concat(frames, how="diagonal")
    attributes = sorted(c for c in combined.columns if c.startswith(ATTRIBUTE_PREFIX))
    fields = [
        *RECORD_FIELDS,
        *(c for c in TEXT_FIELDS[len(RECORD_FIELDS) :] if c in combined.columns),
    ]
    combined = combined.select(*dict.fromkeys(fields), *attributes)
    _check_ids(combined)
    path = directory / "records.csv"
    combined.write_csv(path)
    return RecordFile(
        path,
        combined.height,
        sources.damaged,
        persons,
        organisations,
        1,
        tuple(sorted(combined.get_column("record_type").unique().to_list())),
    )


def _repeated(single: RecordFile, copies: int, path: Path, on_stage: Stage | None) -> RecordFile:
    if on_stage:
        on_stage(f"repeating the records {copies} times", 0, 1)
    one = pl.read_csv(single.path, infer_schema=False)
    parts = [one]
    for n in range(2, copies + 1):
        prefix = f"R{n}-"
        parts.append(
            one.with_columns(
                (pl.lit(prefix) + pl.col("source_record_id")).alias("source_record_id"),
                pl.when(pl.col("refers_to").is_not_null())
                .then(pl.lit(prefix) + pl.col("refers_to"))
                .otherwise(None)
                .alias("refers_to"),
            )
        )
    repeated = pl.concat(parts)
    _check_ids(repeated)
    repeated.write_csv(path)
    return RecordFile(
        path,
        repeated.height,
        single.damaged * copies,
        single.persons,
        single.organisations,
        copies,
        single.record_types,
    )


def _csv_frame(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)  # every column as text, empty as null


def _cell(value: Any) -> str | None:
    """A JSON scalar as the text candor's JSON Lines reader makes of it (a CSV cell)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _jsonl_frame(path: Path) -> pl.DataFrame:
    objects = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    columns: dict[str, list[str | None]] = {f: [None] * len(objects) for f in RECORD_FIELDS}
    for i, obj in enumerate(objects):
        cells = [(k, v) for k, v in obj.items() if k != ATTRIBUTES_KEY]
        cells += [(f"{ATTRIBUTE_PREFIX}{k}", v) for k, v in (obj.get(ATTRIBUTES_KEY) or {}).items()]
        for key, value in cells:
            if key not in columns:
                columns[key] = [None] * len(objects)
            columns[key][i] = _cell(value)
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String()))


def _check_ids(frame: pl.DataFrame) -> None:
    """Every source_record_id once, and every refers_to naming an earlier row."""
    ids = frame.get_column("source_record_id")
    if ids.is_duplicated().any():
        repeated = ids.filter(ids.is_duplicated()).unique().head(5).to_list()
        raise RuntimeError(f"source_record_ids repeat across the sources' files: {repeated}")
    numbered = frame.select("source_record_id", "refers_to").with_row_index("at")
    targets = numbered.select(
        pl.col("source_record_id").alias("refers_to"), pl.col("at").alias("to")
    )
    referring = numbered.filter(pl.col("refers_to").is_not_null()).join(
        targets, on="refers_to", how="left"
    )
    late = referring.filter(pl.col("to").is_null() | (pl.col("to") >= pl.col("at")))
    if late.height:
        raise RuntimeError(
            f"{late.height} rows refer to no earlier row, e.g. "
            f"{late.get_column('source_record_id').head(3).to_list()}"
        )

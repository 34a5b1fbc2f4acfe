"""Writing the sources' record files (CONTRACT format) and the ground truth.

Polars writes the files, so the same frames give the same bytes on every run; rows go out in
the order the frames hold them.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from candor.domain.records import ATTRIBUTE_PREFIX, RECORD_FIELDS
from candor.synth.catalogue import FileFormat, SourceSpec
from candor.synth.population import SUBJECT_COLUMNS

TRUTH_RECORD_COLUMNS = (
    "source",
    "source_record_id",
    "subject_key",
    "damage",
    "damaged_still_valid",
)
_DATE = "%Y-%m-%d"


def _dates_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("occurred_on").dt.to_string(_DATE), pl.col("decided_on").dt.to_string(_DATE)
    )


def write_records(frame: pl.DataFrame, spec: SourceSpec, attributes: list[str], path: Path) -> None:
    """One source's records: CSV with attr.<name> columns, or JSON Lines with ``attributes``.

    Args:
        frame: the records in file order, as ``RecordSet.finish`` and ``damage.identify`` left
            them.
        attributes: the attribute names the source's record types declare (CSV columns).
    """
    frame = _dates_as_text(frame)
    if spec.file_format is FileFormat.CSV:
        columns = [f"{ATTRIBUTE_PREFIX}{a}" for a in attributes]
        missing = [
            pl.lit(None, dtype=pl.String).alias(c) for c in columns if c not in frame.columns
        ]
        frame.with_columns(missing).select(*RECORD_FIELDS, *columns).write_csv(path)
        return
    # JSON Lines: the CONTRACT fields, then the attributes object spliced in before the final
    # brace (its keys differ by record type, so it is encoded per type beforehand).
    fields = pl.struct(*RECORD_FIELDS).struct.json_encode()
    line = pl.concat_str(
        fields.str.strip_suffix("}"), pl.lit(',"attributes":'), pl.col("attributes"), pl.lit("}")
    )
    # One text column written unquoted is exactly one JSON object per line.
    frame.select(line.alias("line")).write_csv(path, include_header=False, quote_style="never")


def truth_records(frame: pl.DataFrame, spec: SourceSpec) -> pl.DataFrame:
    """The ground-truth rows for one source's records, in file order."""
    return frame.select(
        pl.lit(spec.name).alias("source"),
        "source_record_id",
        "subject_key",
        "damage",
        "damaged_still_valid",
    )


def write_truth(subjects: pl.DataFrame, records: pl.DataFrame, truth_dir: Path) -> None:
    """subjects.csv (who everyone really is) and records.csv (whose each record really is)."""
    truth_dir.mkdir(parents=True, exist_ok=True)
    subjects.select(SUBJECT_COLUMNS).with_columns(
        pl.col("birth_date").dt.to_string(_DATE)
    ).write_csv(truth_dir / "subjects.csv")
    records.select(TRUTH_RECORD_COLUMNS).write_csv(truth_dir / "records.csv")

"""One source's records while they are generated, and their final order and ids.

Flows add records a record type at a time, as whole columns. Each record gets a provisional
number (``uid``) in the order it was added; a follow-up names its target by that number. When
the source is complete its records are put in order of decision date (ties in the order they
were added, so a target always precedes its follow-ups), numbered PREFIX-YEAR-SEQUENCE, and
the provisional references become ``refers_to`` source_record_ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from candor.domain.records import ATTRIBUTE_PREFIX
from candor.domain.records import RecordStatus as Status
from candor.domain.registry import Registry
from candor.synth.catalogue import FileFormat, SourceSpec
from candor.synth.timeline import Days

Ints = npt.NDArray[np.int64]
Column = npt.NDArray[Any] | pl.Series
SEQUENCE_DIGITS = 7
NO_REFERENCE = -1


@dataclass(frozen=True)
class _Chunk:
    record_type: str
    base: pl.DataFrame  # uid, subject, occurred, decided, legal_basis, status, refers_uid
    attributes: pl.DataFrame  # typed attribute columns (may have no columns)


def _column(values: str | Column, n: int, name: str) -> pl.Series:
    if isinstance(values, str):
        return pl.repeat(values, n, eager=True).alias(name)
    series = pl.Series(name, values)
    assert series.len() == n, f"{name}: {series.len()} values for {n} records"
    return series


def _decimal_text(col: pl.Expr) -> pl.Expr:
    """A decimal as text with exactly two places (1234.50), the way ledgers print money."""
    cents = (col * 100).round(0).cast(pl.Int64)
    return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))


def _as_text(frame: pl.DataFrame) -> list[pl.Expr]:
    """CSV cells of typed attribute columns: attr.<name> text columns."""
    out: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Float64:
            text = _decimal_text(col)
        elif dtype == pl.Boolean:
            text = pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
        else:
            text = col.cast(pl.String)
        out.append(text.alias(f"{ATTRIBUTE_PREFIX}{name}"))
    return out


def _as_json(frame: pl.DataFrame, n: int) -> pl.Series:
    """The JSON Lines ``attributes`` objects: numbers as JSON numbers, money to the cent."""
    if not frame.width:  # a record type without attributes
        return pl.repeat("{}", n, eager=True).alias("attributes")
    fields = [
        pl.col(name).round(2) if dtype == pl.Float64 else pl.col(name)
        for name, dtype in frame.schema.items()
    ]
    return frame.select(pl.struct(fields).struct.json_encode().alias("attributes")).to_series()


class RecordSet:
    """The records of one source, gathered column-wise."""

    def __init__(self, spec: SourceSpec, registry: Registry) -> None:
        self.spec = spec
        self._registry = registry
        self._chunks: list[_Chunk] = []
        self._next_uid = 0

    def add(
        self,
        record_type: str,
        subject: Ints,
        occurred: Days,
        decided: Days,
        legal_basis: str | Column,
        *,
        status: str | Column = Status.FINAL.value,
        refers_to: Ints | None = None,
        attributes: Mapping[str, Column] | None = None,
    ) -> Ints:
        """Add records of one type; return their provisional numbers for follow-ups to name."""
        assert record_type in self.spec.mandate, f"{self.spec.name} may not submit {record_type}"
        type_spec = self._registry.get(record_type)
        assert type_spec is not None
        attributes = attributes or {}
        undeclared = set(attributes) - set(type_spec.attributes)
        assert not undeclared, f"{record_type} does not declare {sorted(undeclared)}"
        n = len(subject)
        assert bool((occurred <= decided).all()), f"{record_type}: decided before it occurred"
        uids = np.arange(self._next_uid, self._next_uid + n, dtype=np.int64)
        self._next_uid += n
        if n == 0:
            return uids
        base = pl.DataFrame(
            [
                pl.Series("uid", uids),
                pl.Series("subject", subject, dtype=pl.Int64),
                pl.Series("occurred", occurred, dtype=pl.Int64),
                pl.Series("decided", decided, dtype=pl.Int64),
                _column(legal_basis, n, "legal_basis").cast(pl.String),
                _column(status, n, "status").cast(pl.String),
                pl.Series(
                    "refers_uid",
                    refers_to if refers_to is not None else np.full(n, NO_REFERENCE),
                    dtype=pl.Int64,
                ),
            ]
        )
        attrs = pl.DataFrame([_column(v, n, k) for k, v in sorted(attributes.items())])
        self._chunks.append(_Chunk(record_type, base, attrs))
        return uids

    def _empty(self) -> pl.DataFrame:
        schema: dict[str, pl.DataType] = {
            "uid": pl.Int64(),
            "subject": pl.Int64(),
            "occurred": pl.Int64(),
            "decided": pl.Int64(),
            "legal_basis": pl.String(),
            "status": pl.String(),
            "refers_uid": pl.Int64(),
            "record_type": pl.String(),
        }
        if self.spec.file_format is FileFormat.JSONL:
            schema["attributes"] = pl.String()
        return pl.DataFrame(schema=schema)

    def finish(self) -> pl.DataFrame:
        """The records in file order.

        Returns:
            subject, record_type, occurred_on and decided_on (Date), legal_basis, status,
            source_record_id, refers_to, and attr.<name> text columns (CSV) or an ``attributes``
            JSON text column (JSON Lines).
        """
        parts = []
        for chunk in self._chunks:
            if self.spec.file_format is FileFormat.CSV:
                encoded = chunk.attributes.select(_as_text(chunk.attributes))
            else:
                encoded = pl.DataFrame([_as_json(chunk.attributes, chunk.base.height)])
            parts.append(
                pl.concat([chunk.base, encoded], how="horizontal").with_columns(
                    pl.lit(chunk.record_type).alias("record_type")
                )
            )
        if not parts:  # a small jurisdiction can leave a source with nothing to report
            parts.append(self._empty())
        frame = pl.concat(parts, how="diagonal").sort("decided", "uid")
        year = pl.col("decided").cast(pl.Int32).cast(pl.Date).dt.year()
        sequence = pl.int_range(1, pl.len() + 1).over(year)
        frame = frame.with_columns(
            pl.format(
                "{}-{}-{}",
                pl.lit(self.spec.id_prefix),
                year,
                sequence.cast(pl.String).str.zfill(SEQUENCE_DIGITS),
            ).alias("source_record_id"),
            pl.col("occurred").cast(pl.Int32).cast(pl.Date).alias("occurred_on"),
            pl.col("decided").cast(pl.Int32).cast(pl.Date).alias("decided_on"),
        )
        frame = frame.with_row_index("position")
        targets = frame.select(
            pl.col("uid").alias("refers_uid"),
            pl.col("source_record_id").alias("refers_to"),
            pl.col("position").alias("target_position"),
        )
        frame = frame.join(targets, on="refers_uid", how="left", maintain_order="left")
        # candor accepts a refers_to only to a record earlier in the same file.
        misplaced = frame.filter(
            (pl.col("refers_uid") != NO_REFERENCE)
            & (
                pl.col("target_position").is_null()
                | (pl.col("target_position") >= pl.col("position"))
            )
        )
        assert misplaced.is_empty(), f"{self.spec.name}: a follow-up precedes its target"
        return frame.drop("uid", "occurred", "decided", "refers_uid", "position", "target_position")

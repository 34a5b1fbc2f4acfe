"""What every benchmark area shares: the result row, the run's context, targets."""

from __future__ import annotations

import operator
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / "work"
# "Today" of every generated input and of every ingestion that reads it, so that no record of
# the demo jurisdiction counts as dated in the future, whatever day the bench runs.
TODAY = date(2026, 11, 23)


@dataclass(frozen=True)
class Result:
    """One row of the results table: a measured value, and how it compares with its baseline.

    ``met`` is None for a row that has no target (a count, a floor shown for context).
    """

    area: str  # the module that measured it: "ingest"
    benchmark: str  # what was exercised: "ingest 1M-row CSV → SQLite"
    measure: str  # what the value is: "candor ingest_file"
    value: float | None  # None when the measurement was skipped
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None  # value / baseline_value
    target: str | None = None  # in words: "≥ 0.1 of raw"
    met: bool | None = None
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Result:
        fields: dict[str, Any] = {k: doc.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True)
class Target:
    """A threshold a value or a ratio must reach: ``Target(">=", 0.1, "of raw")``."""

    op: str  # ">=" or "<="
    threshold: float
    words: str = ""  # what follows the number: "of raw", "records/s"

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        compare = {">=": operator.ge, "<=": operator.le}[self.op]
        return bool(compare(value, self.threshold))

    def __str__(self) -> str:
        sign = {">=": "≥", "<=": "≤"}[self.op]
        return f"{sign} {number(self.threshold)} {self.words}".strip()


def compared(
    area: str,
    benchmark: str,
    measure: str,
    value: float | None,
    unit: str,
    *,
    baseline: str,
    baseline_value: float | None,
    target: Target | None = None,
    notes: str = "",
) -> Result:
    """A row whose value is judged as a ratio against a baseline measured in the same run."""
    ratio = value / baseline_value if value is not None and baseline_value else None
    return Result(
        area,
        benchmark,
        measure,
        value,
        unit,
        baseline,
        baseline_value,
        ratio,
        str(target) if target else None,
        target.met(ratio) if target else None,
        notes,
    )


def absolute(
    area: str,
    benchmark: str,
    measure: str,
    value: float | None,
    unit: str,
    *,
    target: Target | None = None,
    notes: str = "",
) -> Result:
    """A row judged on its own value (or shown for context when ``target`` is None)."""
    return Result(
        area,
        benchmark,
        measure,
        value,
        unit,
        target=str(target) if target else None,
        met=target.met(value) if target else None,
        notes=notes,
    )


def number(value: float | None) -> str:
    """A value as the tables show it: thousands grouped, few decimals."""
    if value is None:
        return "—"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def ratio_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}×"


def met_text(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "—"}[met]


@dataclass
class Context:
    """What the runner hands every area."""

    progress: Progress  # on stderr; an area adds its own tasks
    console: Console  # stderr, for notes while running
    work: Path = WORK_DIR
    pg_url: str | None = None  # a PostgreSQL server to measure against, if any
    big: bool = False  # also run the slow, larger variants
    # Everything else an area wants kept in results.json (counts, timings, settings); the
    # runner gives each area a fresh one.
    details: dict[str, Any] = field(default_factory=dict)

    failed: bool = False  # set when a part of an area raised; the run exits 1

    def say(self, text: str) -> None:
        """A line on stderr, above the progress bars (and in logs, where bars do not show)."""
        self.console.log(text)

    def guarded(self, area: str, benchmark: str, part: Callable[[], list[Result]]) -> list[Result]:
        """``part()``'s rows, or one row saying it failed: one part must not sink the rest."""
        try:
            return part()
        except Exception as e:  # reported in the table and on stderr, and the run exits 1
            self.failed = True
            self.console.print(f"[bold red]{area}: {benchmark} failed[/]")
            self.console.print(traceback.format_exc())
            return [Result(area, benchmark, "failed", None, "", notes=repr(e)[:300])]


@dataclass(frozen=True)
class Area:
    """A benchmark area: one module, run as ``python -m bench NAME``."""

    name: str
    description: str
    run: Callable[[Context], list[Result]]

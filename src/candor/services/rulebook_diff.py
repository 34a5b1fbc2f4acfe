"""`candor rulebook diff`: whom a new version of a rulebook moves, before anyone activates it.

Both files are read and linted (``read_rulebook``), compiled into one plan as two versions of
distinct ids, and run once on DuckDB over the store's current records as of a date — the same
batch engine, inputs and plan steps as ``rate_all``. Nothing is written to the store (the
records mirror beside it may be caught up, as by any batch read). The comparison itself is
``domain.rulebook_diff``; the report is JSON for machines and a static HTML page for people.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from candor.domain.listings import in_force
from candor.domain.regions import province_of
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook, Rulebook
from candor.domain.rulebook_diff import (
    Comparison,
    Move,
    RuleChange,
    Standing,
    Tally,
    disparity,
    grade_label,
    grade_order,
    move,
    rule_changes,
    standing,
)
from candor.engine.compiler import ALL_SUBJECTS, compile_plan
from candor.engine.execute import run_batch
from candor.errors import InvalidInput
from candor.services.rulebook_diff_html import render_html
from candor.services.rulebooks import read_rulebook
from candor.store import export
from candor.store.database import Store
from candor.store.ratings import watermark

Progress = Callable[[str], None]

# The ids the two versions carry inside the plan: never stored, so any two distinct ids do.
OLD_ID, NEW_ID = 1, 2
UNKNOWN_REGION = "unknown"


def _no_progress(_stage: str) -> None:
    return None


@dataclass(frozen=True)
class Side:
    """One of the two files compared."""

    file: Path
    rulebook: Rulebook
    digest: str  # sha256 of the file's text

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "version": self.rulebook.version,
            "title": self.rulebook.title,
            "sha256": self.digest,
        }


@dataclass(frozen=True)
class RulebookDiff:
    """Whom NEW moves against OLD, as of a date, over the store's current records."""

    old: Side
    new: Side
    as_of: date
    records: int  # records read (of the types either version reads)
    comparison: Comparison
    rules: list[RuleChange]
    seconds: float
    stages: dict[str, float]  # read, rate, compare

    @property
    def rulebook(self) -> str:
        return self.old.rulebook.rulebook

    def grades(self) -> list[str]:
        seen = {g for pair in self.comparison.transitions for g in pair}
        return grade_order(self.old.rulebook.grades, self.new.rulebook.grades, seen)

    def lists(self) -> list[str]:
        return _names(self.old.rulebook.lists, self.new.rulebook.lists)

    def measures(self) -> list[str]:
        return _names(self.old.rulebook.measures, self.new.rulebook.measures)

    def by_province(self) -> dict[str, Tally]:
        """The regions' tallies summed by province (``unknown`` without a known one)."""
        out: dict[str, Tally] = {}
        for region, tally in self.comparison.by_region.items():
            province = (province_of(region) if region else None) or UNKNOWN_REGION
            out.setdefault(province, Tally()).merge(tally)
        return dict(sorted(out.items(), key=lambda kv: (-kv[1].subjects, kv[0])))

    def to_json(self) -> dict[str, Any]:
        c = self.comparison
        grades = self.grades()
        old_lists, new_lists = self.old.rulebook.lists, self.new.rulebook.lists
        old_measures, new_measures = self.old.rulebook.measures, self.new.rulebook.measures

        def with_disparity(tally: Tally) -> dict[str, Any]:
            return {**tally.to_json(), **disparity(tally, c.overall).to_json()}

        regions = sorted(c.by_region.items(), key=lambda kv: (-kv[1].subjects, kv[0] or ""))
        return {
            "rulebook": self.rulebook,
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "as_of": self.as_of.isoformat(),
            "records": self.records,
            "subjects": c.overall.subjects,
            "seconds": round(self.seconds, 3),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            "grades": grades,
            "transitions": {
                old: {new: c.transitions.get((old, new), 0) for new in grades} for old in grades
            },
            "lists": [
                {
                    "list": name,
                    "in_old": name in old_lists,
                    "in_new": name in new_lists,
                    "in_force_old": c.in_force["old"][name],
                    "in_force_new": c.in_force["new"][name],
                    "newly_listed": c.listed[name],
                    "delisted": c.delisted[name],
                }
                for name in self.lists()
            ],
            "measures": [
                {
                    "measure": name,
                    "in_old": name in old_measures,
                    "in_new": name in new_measures,
                    "applying_old": c.applying["old"][name],
                    "applying_new": c.applying["new"][name],
                    "newly_applying": c.imposed[name],
                    "no_longer_applying": c.lifted[name],
                }
                for name in self.measures()
            ],
            "rules": [r.to_json() for r in self.rules],
            "overall": with_disparity(c.overall),
            "by_kind": [{"kind": k, **with_disparity(t)} for k, t in sorted(c.by_kind.items())],
            "by_region": [
                {
                    "region_code": region,
                    "province": province_of(region) if region else None,
                    **with_disparity(tally),
                }
                for region, tally in regions
            ],
            "by_province": [
                {"province": p, **with_disparity(t)} for p, t in self.by_province().items()
            ],
        }

    def html(self) -> str:
        """The report as a self-contained static HTML page (charts as inline SVG)."""
        return render_html(self.to_json())


def _names(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [*old, *(name for name in new if name not in old)]


def _side(path: Path, registry: Registry) -> Side:
    rulebook, text = read_rulebook(path, registry)
    return Side(path, rulebook, hashlib.sha256(text.encode()).hexdigest())


def diff_rulebooks(
    store: Store,
    registry: Registry,
    old_file: Path,
    new_file: Path,
    *,
    as_of: date,
    on_progress: Progress = _no_progress,
    mirror_dir: Path | None = None,
) -> RulebookDiff:
    """Rate every subject under both files as of ``as_of`` and compare; store nothing.

    Raises:
        InvalidInput: a file cannot be read, or the two are not versions of one rulebook.
        RulebookError: a file is not a valid rulebook or has a lint error.
    """
    started = time.perf_counter()
    old, new = _side(old_file, registry), _side(new_file, registry)
    if old.rulebook.rulebook != new.rulebook.rulebook:
        raise InvalidInput(
            f"{old_file} is rulebook {old.rulebook.rulebook!r} and {new_file} is "
            f"{new.rulebook.rulebook!r}: a diff compares two versions of the same rulebook "
            "(the same `rulebook:` name)"
        )
    versions = [
        ActiveRulebook(id=OLD_ID, effective_from=as_of, rulebook=old.rulebook),
        ActiveRulebook(id=NEW_ID, effective_from=as_of, rulebook=new.rulebook),
    ]
    # Compiled here, not through ``plan_for``'s cache: the plan of two files is used once.
    plan = compile_plan(versions, registry, ALL_SUBJECTS)
    stages: dict[str, float] = {}

    on_progress("reading records")
    mark = time.perf_counter()
    types = sorted(old.rulebook.record_types() | new.rulebook.record_types())
    with store.read() as conn:
        through = watermark(conn)
    records = export.records(store, types, as_of, through, mirror_dir=mirror_dir)
    subjects = export.subjects(store, regions=True)
    stages["read"] = time.perf_counter() - mark

    on_progress(f"rating under {old.rulebook.key} and {new.rulebook.key}")
    mark = time.perf_counter()
    out = run_batch(plan, records, subjects, as_of)
    stages["rate"] = time.perf_counter() - mark

    on_progress("comparing")
    mark = time.perf_counter()
    comparison = _compare(old.rulebook, new.rulebook, subjects, out, as_of)
    rules = _rule_changes(old.rulebook, new.rulebook, out)
    stages["compare"] = time.perf_counter() - mark
    return RulebookDiff(
        old=old,
        new=new,
        as_of=as_of,
        records=records.num_rows,
        comparison=comparison,
        rules=rules,
        seconds=time.perf_counter() - started,
        stages=stages,
    )


IN_FORCE_SCHEMA = pa.schema(
    [("rulebook_id", pa.int64()), ("subject_id", pa.int64()), ("list_name", pa.string())]
)

# Subjects grouped by everything a move depends on: one row per kind, region, grade under
# each version and lists under each, with how many subjects share them.
_STANDINGS_SQL = """
WITH listed AS (
    SELECT rulebook_id, subject_id, list_sort(list(DISTINCT list_name)) AS lists
    FROM in_force GROUP BY rulebook_id, subject_id
)
SELECT s.kind, s.region_code,
    coalesce(o.consented = 1, FALSE) AS old_scored, o.grade AS old_grade,
    coalesce(n.consented = 1, FALSE) AS new_scored, n.grade AS new_grade,
    lo.lists AS old_lists, ln.lists AS new_lists, count(*) AS subjects
FROM subjects AS s
LEFT JOIN ratings AS o ON o.subject_id = s.id AND o.rulebook_id = $old
LEFT JOIN ratings AS n ON n.subject_id = s.id AND n.rulebook_id = $new
LEFT JOIN listed AS lo ON lo.subject_id = s.id AND lo.rulebook_id = $old
LEFT JOIN listed AS ln ON ln.subject_id = s.id AND ln.rulebook_id = $new
GROUP BY ALL
"""

# Points and subjects per rule over scored subjects, cap lines included (they are points the
# rule gives back); a subject without a score has lines but no score they count towards.
_RULES_SQL = """
SELECT c.rulebook_id, c.rule_id, CAST(SUM(c.points) AS BIGINT) AS points,
    COUNT(DISTINCT c.subject_id) AS subjects
FROM contributions AS c
JOIN ratings AS r ON r.rulebook_id = c.rulebook_id AND r.subject_id = c.subject_id
WHERE r.consented = 1
GROUP BY c.rulebook_id, c.rule_id
"""


def _in_force(listings: pa.Table, as_of: date) -> pa.Table:
    rows = [
        {
            "rulebook_id": r["rulebook_id"],
            "subject_id": r["subject_id"],
            "list_name": r["list_name"],
        }
        for r in listings.to_pylist()
        if in_force(r, as_of)
    ]
    return pa.Table.from_pylist(rows, schema=IN_FORCE_SCHEMA)


def _compare(
    old: Rulebook, new: Rulebook, subjects: pa.Table, out: dict[str, pa.Table], as_of: date
) -> Comparison:
    con = duckdb.connect()
    try:
        con.register("subjects", subjects)
        con.register("ratings", out["ratings"])
        con.register("in_force", _in_force(out["listings"], as_of))
        groups = con.execute(_STANDINGS_SQL, {"old": OLD_ID, "new": NEW_ID}).fetchall()
    finally:
        con.close()
    # Few distinct standings and moves among many groups: each is made once.
    standings: dict[tuple[str, tuple[str, ...] | None, int], Standing] = {}
    moves: dict[tuple[Standing, Standing], Move] = {}

    def standing_of(label: str, lists: list[str] | None, side: int) -> Standing:
        key = (label, tuple(lists) if lists else None, side)
        if key not in standings:
            rulebook = old if side == OLD_ID else new
            standings[key] = standing(rulebook, label, frozenset(lists or ()))
        return standings[key]

    comparison = Comparison()
    for kind, region, old_scored, old_grade, new_scored, new_grade, lo, ln, n in groups:
        before = standing_of(grade_label(old_scored, old_grade), lo, OLD_ID)
        after = standing_of(grade_label(new_scored, new_grade), ln, NEW_ID)
        if (before, after) not in moves:
            moves[before, after] = move(before, after, old.grades, new.grades)
        comparison.add(kind, region, moves[before, after], n)
    return comparison


def _rule_changes(old: Rulebook, new: Rulebook, out: dict[str, pa.Table]) -> list[RuleChange]:
    con = duckdb.connect()
    try:
        con.register("contributions", out["contributions"])
        con.register("ratings", out["ratings"])
        rows = con.sql(_RULES_SQL).fetchall()
    finally:
        con.close()
    given: dict[int, dict[str, tuple[int, int]]] = {OLD_ID: {}, NEW_ID: {}}
    for rulebook_id, rule, points, subjects in rows:
        given[rulebook_id][rule] = (points, subjects)
    return rule_changes(
        [r.id for r in old.rules], [r.id for r in new.rules], given[OLD_ID], given[NEW_ID]
    )

"""Rulebook diff: whom a new Rongcheng version moves, on the demo jurisdiction, against one
``rate_all`` of the same store.

The input is the demo jurisdiction (``candor demo``'s: 100,000 persons and 20,000 organisations,
seed 0, about 1M records ingested through candor, both sample rulebooks active and rated as of
``TODAY``), built once under ``bench/work/rulebook_diff`` and reused. The diff compares the
shipped Rongcheng rulebook with a copy whose traffic-ticket deduction is doubled (-5 to -10, the
commonest deduction in the demo, so that thousands of subjects move).

Each measured step runs in a fresh process (``bench.child``), after a warm-up run that leaves the
records mirror caught up, alternately, best of ``RUNS``:

- the baseline: ``rate_all`` as of ``TODAY``, computed and not stored (a date other than
  "today"), under both active rulebooks;
- ``diff_rulebooks`` as of ``TODAY`` (both files linted, both versions rated in one plan,
  compared; nothing stored), and the HTML report rendered from it.

Targets: the diff within 3 times one ``rate_all`` of the same store, and the whole diff with its
HTML report under a minute (issue 6: nobody should wait long to see whom a change moves).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.child import Report, run_child_shown
from bench.core import TODAY, Area, Context, Result, Target, absolute, compared
from candor.services.demo import DemoParameters, build_demo
from candor.services.rating import rate_all
from candor.services.registry import load_registry
from candor.services.rulebook_diff import diff_rulebooks
from candor.services.rulebooks import SAMPLE_RULEBOOKS
from candor.settings import Settings
from candor.store import open_store

AREA_NAME = "rulebook_diff"
PARAMETERS = DemoParameters(persons=100_000, organisations=20_000, seed=0)
OLD = SAMPLE_RULEBOOKS / "rongcheng-personal.yaml"
TICKET, DOUBLED = (
    "record_type: traffic.violation\n    points: -5\n",
    "record_type: traffic.violation\n    points: -10\n",
)
RUNS = 3
RATIO_TARGET = Target("<=", 3, "of one rate_all")
SECONDS_TARGET = Target("<=", 60, "s")
MARKER = "bench.json"


def _settings(directory: Path) -> Settings:
    return Settings.load(
        environ={},
        database_url=f"sqlite:///{directory / 'candor.db'}",
        secret_file=directory / "candor.secret",
    )


def demo_store(ctx: Context, work: Path) -> tuple[Path, dict[str, Any]]:
    """The demo jurisdiction's store: built once (minutes), then reused while its parameters
    and date are the same. Returns its directory and what the demo said of it."""
    directory = work / f"demo-p{PARAMETERS.persons}-o{PARAMETERS.organisations}"
    wanted = {**PARAMETERS.__dict__, "today": TODAY.isoformat()}
    settings = _settings(directory)
    try:
        doc = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    if doc.get("parameters") == wanted and (directory / "candor.db").is_file():
        return directory, doc["demo"]
    ctx.say("rulebook_diff: building the demo jurisdiction (several minutes; cached after)")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    task = ctx.progress.add_task("rulebook_diff: building the demo", total=None)
    summary = build_demo(
        settings,
        directory,
        PARAMETERS,
        today=TODAY,
        on_generate=lambda stage, done, total: ctx.progress.update(
            task, description=f"rulebook_diff: demo — {stage}", completed=done, total=total
        ),
        on_file=lambda f: ctx.progress.update(
            task, description=f"rulebook_diff: demo — ingest {f.path.name}", total=None
        ),
    )
    ctx.progress.update(task, completed=1, total=1)
    made = summary.to_json()
    facts = {"records": made["records"], "subjects": made["subjects"]}
    (directory / MARKER).write_text(
        json.dumps({"parameters": wanted, "demo": facts}, indent=2), encoding="utf-8"
    )
    return directory, facts


# --- the measured steps, each in a child process -----------------------------------------------


def rate_step(*, directory: str, as_of: str, report: Report) -> dict[str, Any]:
    """``rate_all`` as of ``as_of``, computed and not stored ("today" is another day)."""
    settings = _settings(Path(directory))
    registry = load_registry(settings)
    day = date.fromisoformat(as_of)
    with open_store(settings.database_url) as store:
        started = time.perf_counter()
        summary = rate_all(
            store,
            registry,
            as_of=day,
            today=day + timedelta(days=1),
            on_progress=lambda stage: report({"stage": stage}),
        )
        seconds = time.perf_counter() - started
    assert not summary.stored
    return {"seconds": seconds, "stages": summary.stages, "subjects": summary.subjects}


def diff_step(
    *, directory: str, old: str, new: str, as_of: str, html: str, report: Report
) -> dict[str, Any]:
    """``diff_rulebooks`` as of ``as_of``, then its HTML report, each timed."""
    settings = _settings(Path(directory))
    registry = load_registry(settings)
    with open_store(settings.database_url) as store:
        started = time.perf_counter()
        found = diff_rulebooks(
            store,
            registry,
            Path(old),
            Path(new),
            as_of=date.fromisoformat(as_of),
            on_progress=lambda stage: report({"stage": stage}),
        )
        seconds = time.perf_counter() - started
    report({"stage": "HTML report"})
    started = time.perf_counter()
    Path(html).write_text(found.html(), encoding="utf-8")
    html_seconds = time.perf_counter() - started
    doc = found.to_json()
    return {
        "seconds": seconds,
        "html_seconds": html_seconds,
        "stages": doc["stages"],
        "records": doc["records"],
        "subjects": doc["subjects"],
        "overall": doc["overall"],
        "regions": len(doc["by_region"]),
    }


def _child(ctx: Context, label: str, target: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return run_child_shown(
        ctx.progress, "rulebook_diff", label, f"bench.rulebook_diff:{target}", kwargs
    )


# --- the area ------------------------------------------------------------------------------------


def run(ctx: Context) -> list[Result]:
    work = ctx.work / AREA_NAME
    work.mkdir(parents=True, exist_ok=True)
    name = "rulebook diff, demo jurisdiction (Rongcheng, a deduction doubled)"
    return ctx.guarded(AREA_NAME, name, lambda: _measure(ctx, work, name))


def _measure(ctx: Context, work: Path, name: str) -> list[Result]:
    directory, demo = demo_store(ctx, work)
    text = OLD.read_text(encoding="utf-8")
    if text.count(TICKET) != 1:
        raise AssertionError(f"{OLD.name} no longer deducts 5 points per traffic ticket")
    new = work / "rongcheng-ticket-doubled.yaml"
    new.write_text(text.replace(TICKET, DOUBLED).replace('"2026.3"', '"2026.4"'), encoding="utf-8")
    step = {"directory": str(directory), "as_of": TODAY.isoformat()}
    diff = {**step, "old": str(OLD), "new": str(new), "html": str(work / "report.html")}
    _child(ctx, "warm-up", "rate_step", step)  # the records mirror caught up, files cached
    rates, diffs = [], []
    for i in range(RUNS):
        rates.append(_child(ctx, f"rate_all {i + 1}/{RUNS}", "rate_step", step))
        diffs.append(_child(ctx, f"diff {i + 1}/{RUNS}", "diff_step", diff))
    rate = min(rates, key=lambda r: r["seconds"])
    best = min(diffs, key=lambda r: r["seconds"])
    whole = min(d["seconds"] + d["html_seconds"] for d in diffs)
    moved = best["overall"]
    ctx.details["demo"] = {**demo, "directory": str(directory)}
    ctx.details["rate_all"] = rates
    ctx.details["diff"] = diffs
    ctx.say(
        f"{name}: diff {best['seconds']:.2f} s (HTML {best['html_seconds']:.2f} s), "
        f"rate_all {rate['seconds']:.2f} s; {moved['adversely_moved']:,} adversely moved"
    )
    stages = ", ".join(f"{k} {v:.2f}" for k, v in best["stages"].items())
    context = (
        f"{best['records']:,} records read, {best['subjects']:,} subjects in "
        f"{best['regions']:,} regions; {moved['adversely_moved']:,} adversely moved"
    )
    return [
        compared(
            AREA_NAME,
            name,
            "the diff (services.rulebook_diff) / one rate_all",
            best["seconds"],
            "s",
            baseline="rate_all of the same store as of the same date, computed and not "
            "stored, under both active rulebooks",
            baseline_value=rate["seconds"],
            target=RATIO_TARGET,
            notes=f"best of {RUNS} each, in fresh processes after a warm-up run; stages (s): "
            f"{stages}; {context}; peak RSS {best['peak_rss_mib']:,} MiB",
        ),
        absolute(
            AREA_NAME,
            name,
            "the diff and its HTML report",
            whole,
            "s",
            target=SECONDS_TARGET,
            notes=f"best of {RUNS}; the HTML report (tables and Vega-Altair charts rendered "
            f"to SVG) took {best['html_seconds']:.2f} s of it",
        ),
    ]


AREA = Area(
    AREA_NAME,
    "rulebook diff on the demo jurisdiction (~1M records) against one rate_all",
    run,
)

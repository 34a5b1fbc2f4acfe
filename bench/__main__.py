"""``python -m bench [AREA …] [--big] [--check]``: run benchmark areas, report, record.

Prints the table on stdout (progress goes to stderr), writes ``bench/results.json`` and
rewrites the README's benchmark section. Without area names every area runs.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from bench import checks, ingest, ledger, linkage, linkage_synthetic, rating, rulebook_diff
from bench.core import BENCH_DIR, REPO_ROOT, Area, Context, Result
from bench.machine import facts
from bench.pg import configured_url
from bench.report import (
    load_previous,
    markdown,
    merged,
    results_json,
    rewrite_readme,
    rich_table,
)

AREAS: dict[str, Area] = {
    area.name: area
    for area in (
        ingest.AREA,
        checks.AREA,
        rating.AREA,
        rulebook_diff.AREA,
        ledger.AREA,
        linkage.AREA,
        linkage_synthetic.AREA,
    )
}
RESULTS = BENCH_DIR / "results.json"
README = REPO_ROOT / "README.md"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="candor's benchmark suite. Areas: "
        + "; ".join(f"{a.name} — {a.description}" for a in AREAS.values()),
    )
    parser.add_argument("areas", nargs="*", metavar="AREA", help="areas to run (default: all)")
    parser.add_argument(
        "--big",
        action="store_true",
        help="also run the larger, slower variants of each area (ingest: a 6M-row file's memory)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is not met")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md as it is")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    unknown = [a for a in args.areas if a not in AREAS]
    if unknown:
        parser.error(f"unknown area(s) {', '.join(unknown)}; choose from {', '.join(AREAS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    selected = [AREAS[name] for name in (args.areas or AREAS)]
    errors = Console(stderr=True, log_path=False)
    pg_url = configured_url()
    if not pg_url:
        errors.print(
            "[yellow]PostgreSQL benchmarks are skipped: set CANDOR_BENCH_PG_URL "
            "(or CANDOR_TEST_PG_URL) to run them[/]"
        )
    started = time.perf_counter()
    results: list[Result] = []
    areas: dict[str, dict[str, Any]] = {}
    failed = False
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
    ) as progress:
        for area in selected:
            ctx = Context(progress, errors, pg_url=pg_url, big=args.big)
            began, at = time.perf_counter(), datetime.now(UTC)
            try:
                rows = area.run(ctx)
            except Exception as e:  # one area's failure must not hide the others' results
                failed = True
                errors.print(f"[bold red]{area.name} failed[/]")
                errors.print(traceback.format_exc())
                rows = [Result(area.name, area.name, "failed", None, "", notes=repr(e)[:300])]
            failed = failed or ctx.failed
            results += rows
            areas[area.name] = {
                "date": at.isoformat(timespec="seconds"),
                "seconds": round(time.perf_counter() - began, 1),
                "big": args.big,
                "details": ctx.details,
            }
    seconds = time.perf_counter() - started

    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m bench", *(a for a in given if a != "--check")])
    machine = facts(pg_url)
    previous = load_previous(args.results)
    for info in areas.values():
        info["machine"] = machine
    all_areas, all_rows = merged(previous, areas, results)
    # Areas kept from an earlier run were measured on that run's machine (recorded per area
    # since the rulebook_diff area; before, only the run's): the README says so.
    earlier: dict[str, dict[str, Any]] = {}
    for name, info in all_areas.items():
        if name not in areas:
            info.setdefault("machine", previous.get("machine"))
            if isinstance(info["machine"], dict):
                earlier[name] = info["machine"]
    out = Console()
    if not out.is_terminal:
        out = Console(width=200)  # a log or a pipe: do not squeeze the table into 80 columns
    out.print(rich_table(all_rows))
    results_json(
        args.results,
        machine=machine,
        command=command,
        seconds=seconds,
        areas=all_areas,
        results=all_rows,
    )
    errors.print(f"wrote {args.results} ({seconds:.0f} s in all)")
    if not args.no_readme:
        if rewrite_readme(README, markdown(all_rows, machine, command, earlier)):
            errors.print(f"rewrote the benchmark section of {README.name}")
        else:
            errors.print(f"[yellow]{README.name} has no benchmark markers; left as it is[/]")
    unmet = [r for r in results if r.met is False]
    if failed:
        return 1
    return 1 if args.check and unmet else 0


if __name__ == "__main__":
    sys.exit(main())

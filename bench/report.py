"""The results, three ways: a Rich table, ``bench/results.json``, and the README's section.

``results.json`` keeps the rows of areas this run did not measure (``python -m bench ingest``
replaces only the ingestion rows), each area with its own date, so the file and the README
always show the whole suite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.core import Result, met_text, number, ratio_text
from bench.machine import hardware, one_line

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
FORMAT = "candor-bench/1"


def rich_table(results: list[Result]) -> Table:
    table = Table(title="candor benchmarks", show_lines=False, expand=False)
    for name, justify in (
        ("Benchmark", "left"),
        ("Measure", "left"),
        ("Value", "right"),
        ("Unit", "left"),
        ("Baseline", "left"),
        ("Baseline value", "right"),
        ("Ratio", "right"),
        ("Target", "left"),
        ("Met", "center"),
        ("Notes", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in results:
        met = {True: "[green]yes[/]", False: "[bold red]NO[/]", None: "—"}[r.met]
        table.add_row(
            r.benchmark,
            r.measure,
            number(r.value),
            r.unit,
            r.baseline or "—",
            number(r.baseline_value),
            ratio_text(r.ratio),
            r.target or "—",
            met,
            r.notes,
        )
    return table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    results: list[Result],
    machine: dict[str, Any],
    command: str,
    earlier: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The README section: a table of every row, then the machine and the command (and, for
    ``earlier``: areas kept from earlier runs, the machine each was measured on)."""
    lines = [
        "| Benchmark | Measure | Value | Baseline | Ratio | Target | Met | Notes |",
        "|---|---|--:|---|--:|---|:-:|---|",
    ]
    for r in results:
        value = f"{number(r.value)} {r.unit}" if r.value is not None else "—"
        baseline = (
            f"{r.baseline}: {number(r.baseline_value)} {r.unit}"
            if r.baseline and r.baseline_value is not None
            else (r.baseline or "—")
        )
        cells = (
            r.benchmark,
            r.measure,
            value,
            baseline,
            ratio_text(r.ratio),
            r.target or "—",
            met_text(r.met),
            r.notes,
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        f"Measured with `{command}` on {one_line(machine)}. Every ratio compares with a baseline "
        "measured in the same run on the same machine; `bench/results.json` has every figure.",
    ]
    by_machine: dict[str, list[str]] = {}
    for area, measured_on in (earlier or {}).items():
        by_machine.setdefault(hardware(measured_on), []).append(f"`{area}`")
    if by_machine:
        kept = "; ".join(f"{', '.join(names)} on {hw}" for hw, names in by_machine.items())
        lines[-1] += f" Rows of other areas are kept from earlier runs: {kept}."
    return "\n".join(lines)


def load_previous(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else {}


def merged(
    previous: dict[str, Any], areas: dict[str, dict[str, Any]], results: list[Result]
) -> tuple[dict[str, dict[str, Any]], list[Result]]:
    """This run's areas and rows, with the rows of areas it did not run kept from before."""
    kept_areas = {
        name: info for name, info in previous.get("areas", {}).items() if name not in areas
    }
    kept_rows = [
        Result.from_json(doc)
        for doc in previous.get("results", [])
        if doc.get("area") in kept_areas
    ]
    return {**kept_areas, **areas}, kept_rows + results


def results_json(
    path: Path,
    *,
    machine: dict[str, Any],
    command: str,
    seconds: float,
    areas: dict[str, dict[str, Any]],
    results: list[Result],
) -> None:
    doc = {
        "format": FORMAT,
        "command": command,
        "seconds": round(seconds, 1),
        "machine": machine,
        "areas": areas,
        "results": [r.to_json() for r in results],
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def rewrite_readme(path: Path, section: str) -> bool:
    """Replace what lies between the markers; every byte outside them stays as it was.

    Returns False (and writes nothing) when the README lacks the markers.
    """
    data = path.read_bytes()
    begin, end = BEGIN.encode(), END.encode()
    start = data.find(begin)
    stop = data.find(end, start + len(begin)) if start >= 0 else -1
    if start < 0 or stop < 0:
        return False
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    body = section.encode("utf-8").replace(b"\n", newline)
    updated = data[: start + len(begin)] + newline + body + newline + data[stop:]
    if updated != data:
        path.write_bytes(updated)
    return True

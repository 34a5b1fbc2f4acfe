"""`candor rulebook …`: lint rulebook files, see whom a new version moves, activate versions,
list them, print the schema."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from candor.cli.options import AsOfOption, DbOption, EffectiveOption, JsonOption, day, settings_for
from candor.cli.output import emit, reports_errors, spinner, stdout
from candor.domain.rulebook_lint import POINTS_CAP, Finding, Severity
from candor.services import rulebook_lint, subject_reads
from candor.services import rulebooks as service
from candor.services.registry import load_registry
from candor.services.rulebook_diff import diff_rulebooks
from candor.store import open_store

app = typer.Typer(
    help="Rulebooks: the published rules that rate subjects and list them.",
    no_args_is_help=True,
)


@app.command("lint")
@reports_errors
def lint(
    files: Annotated[list[Path], typer.Argument(help="Rulebook YAML files.", show_default=False)],
    registry_file: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="Lint against this record-type registry file, itself linted first "
            "(default: the deployment's registry).",
        ),
    ] = None,
    points_cap: Annotated[
        int,
        typer.Option(
            min=1, help="Warn about a rule that moves a score by more points for one record."
        ),
    ] = POINTS_CAP,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check rulebook files against candor's rule-of-law principles, naming the file, the path
    inside it and why for each finding. Exits 1 when any finding is an error (`activate` refuses
    such a rulebook); warnings are shown and do not block."""
    findings: list[Finding] = []
    if registry_file is not None:
        registry, findings = rulebook_lint.lint_registry(registry_file)
    else:
        registry = load_registry(settings_for(db))
    if registry is not None:
        for file in files:
            findings += rulebook_lint.lint_file(file, registry, points_cap=points_cap)[1]
    errors = sum(f.severity is Severity.ERROR for f in findings)
    # The contract's shape: the findings of each severity, in the order found.
    data = {
        "errors": [f.to_json() for f in findings if f.severity is Severity.ERROR],
        "warnings": [f.to_json() for f in findings if f.severity is not Severity.ERROR],
    }

    def render() -> None:
        for finding in findings:
            style = "red" if finding.severity is Severity.ERROR else "yellow"
            stdout.print(finding.line(), style=style, markup=False, highlight=False)
        if not findings:
            stdout.print(f"{', '.join(map(str, files))}: no findings")
        else:
            stdout.print(f"{errors} error(s), {len(findings) - errors} warning(s)")

    emit(data, as_json=as_json, render=render)
    if errors:
        raise typer.Exit(1)


@app.command("diff")
@reports_errors
def diff(
    old: Annotated[
        Path, typer.Argument(metavar="OLD", help="The rulebook file in force.", show_default=False)
    ],
    new: Annotated[
        Path, typer.Argument(metavar="NEW", help="The proposed version.", show_default=False)
    ],
    as_of: AsOfOption = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the report as a static HTML page with charts here."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show whom a new version of a rulebook moves before anyone activates it: both files are
    linted, then run over the store's current records as of the date, and compared — grade
    transitions, listings and measures gained and lost, points per rule, and who is moved by
    kind and by region, with each region's disparity. Nothing is stored."""
    settings = settings_for(db)
    with (
        open_store(settings.database_url) as store,
        spinner() as progress,
    ):
        task = progress.add_task("reading the rulebooks", total=None)
        found = diff_rulebooks(
            store,
            load_registry(settings),
            old,
            new,
            as_of=day(as_of),
            on_progress=lambda stage: progress.update(task, description=stage),
            mirror_dir=settings.rating_mirror_dir,
        )
        if html is not None:
            progress.update(task, description=f"writing {html}")
            html.write_text(found.html(), encoding="utf-8")
    report = found.to_json()
    if html is not None:
        report["html"] = str(html)
    emit(report, as_json=as_json, render=lambda: _render_diff(report))


# Provinces and regions shown in the terminal; --json and --html have every one.
PROVINCES_SHOWN, REGIONS_SHOWN = 10, 15


def _render_diff(doc: dict[str, Any]) -> None:
    overall = doc["overall"]
    stdout.print(
        f"[bold]{doc['rulebook']}[/] {doc['old']['version']} (OLD) → {doc['new']['version']} "
        f"(NEW) as of {doc['as_of']}: {doc['subjects']:,} subjects, {doc['records']:,} records, "
        f"{doc['seconds']:.1f} s; nothing stored"
    )
    stdout.print(
        f"[red]{overall['adversely_moved']:,} adversely moved[/], "
        f"[blue]{overall['favourably_moved']:,} favourably moved[/]"
    )
    grades = doc["grades"]
    matrix = Table("OLD ↓  NEW →", *grades, title="grade transitions")
    for before in grades:
        cells = []
        for after in grades:
            n = doc["transitions"][before][after]
            cells.append(f"[red]{n:,}[/]" if n and before != after else f"{n:,}")
        matrix.add_row(before, *cells)
    stdout.print(matrix)
    if doc["lists"]:
        lists = Table("list", "in force OLD", "in force NEW", "newly listed", "delisted")
        for r in doc["lists"]:
            lists.add_row(
                r["list"],
                *(
                    f"{r[k]:,}"
                    for k in ("in_force_old", "in_force_new", "newly_listed", "delisted")
                ),
            )
        stdout.print(lists)
        measures = Table("measure", "applies OLD", "applies NEW", "newly applying", "lifted")
        for r in doc["measures"]:
            keys = ("applying_old", "applying_new", "newly_applying", "no_longer_applying")
            measures.add_row(r["measure"], *(f"{r[k]:,}" for k in keys))
        stdout.print(measures)
    rules = Table("rule", "OLD points", "NEW points", "change", title="points per rule")
    for r in doc["rules"]:
        rules.add_row(
            r["rule"],
            "—" if r["old_points"] is None else f"{r['old_points']:,}",
            "—" if r["new_points"] is None else f"{r['new_points']:,}",
            f"{r['change']:+,}",
        )
    stdout.print(rules)
    heads = ("subjects", "adversely", "favourably", "grade worse", "grade better")
    tally = ("subjects", "adversely_moved", "favourably_moved", "grade_worse", "grade_better")
    kinds = Table("kind", *heads, title="by kind")
    for row in doc["by_kind"]:
        kinds.add_row(row["kind"], *(f"{row[k]:,}" for k in tally))
    stdout.print(kinds)
    for title, rows, label in (
        ("by province", doc["by_province"][:PROVINCES_SHOWN], "province"),
        ("by region", doc["by_region"][:REGIONS_SHOWN], "region_code"),
    ):
        table = Table(
            label.replace("_", " "),
            "subjects",
            "adversely",
            "share adversely",
            "ratio to overall",
            title=f"{title}: the {len(rows)} with most subjects (all: --json or --html)",
        )
        for row in rows:
            share, ratio = row["adverse_share"], row["disparity_ratio"]
            name = row[label] or "unknown"
            if label == "region_code" and row["province"]:
                name = f"{name} {row['province']}"
            table.add_row(
                name,
                f"{row['subjects']:,}",
                f"{row['adversely_moved']:,}",
                "—" if share is None else f"{share:.2%}",
                "—" if ratio is None else f"{ratio:.2f}",
            )
        stdout.print(table)
    if overall["adverse_share"] is not None:
        stdout.print(f"overall share adversely moved: {overall['adverse_share']:.2%}")
    if "html" in doc:
        stdout.print(f"wrote {doc['html']}")


@app.command("activate")
@reports_errors
def activate(
    file: Annotated[Path, typer.Argument(help="The rulebook YAML file.", show_default=False)],
    effective: EffectiveOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a rulebook file and store it as a version that governs from its effective date."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        done = service.activate(
            store,
            load_registry(settings),
            file,
            effective=effective.date() if effective else None,
            today=date.today(),
            by=subject_reads.operator().name,
        )
    data = {
        "rulebook": done.name,
        "version": done.version,
        "effective_from": done.effective_from.isoformat(),
        "digest": done.digest,
        "created": done.created,
    }

    def render() -> None:
        verb = "activated" if done.created else "already active, unchanged"
        stdout.print(
            f"{done.name}@{done.version}: {verb}; governs from {done.effective_from} "
            f"(sha256 {done.digest[:12]}…)"
        )

    emit(data, as_json=as_json, render=render)


@app.command("list")
@reports_errors
def list_(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List every stored rulebook version, and which govern today."""
    settings = settings_for(db)
    today = day(None)
    with open_store(settings.database_url) as store:
        versions = service.every_version(store)
        current = service.in_force(store, today)
    rows = [
        {
            "rulebook": v.name,
            "version": v.version,
            "title": v.title,
            "effective_from": v.effective_from.isoformat(),
            "activated_at": v.activated_at.isoformat(),
            "activated_by": v.activated_by,
            "digest": v.digest,
            "in_force": v.id in current,
            # Activated to take effect on a later date: announced before it governs.
            "announced": v.effective_from > today,
        }
        for v in versions
    ]

    def render() -> None:
        table = Table(
            "rulebook", "version", "title", "effective from", "today", "activated by", "sha256"
        )
        for r in rows:
            table.add_row(
                str(r["rulebook"]),
                str(r["version"]),
                str(r["title"]),
                str(r["effective_from"]),
                "in force" if r["in_force"] else "announced" if r["announced"] else "",
                str(r["activated_by"] or "—"),
                f"{str(r['digest'])[:12]}…",
            )
        stdout.print(table if rows else "no rulebook activated yet (`candor rulebook activate`)")

    emit({"rulebooks": rows}, as_json=as_json, render=render)


@app.command("schema")
@reports_errors
def schema(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file instead of stdout."),
    ] = None,
    db: DbOption = None,  # every command takes --db; the schema needs no store
    as_json: JsonOption = False,
) -> None:
    """Print the JSON Schema of rulebook files (always JSON)."""
    del db
    document = service.json_schema()
    if output is not None:
        output.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        emit(
            {"written": str(output)},
            as_json=as_json,
            render=lambda: stdout.print(f"wrote {output}"),
        )
    else:
        emit(document, as_json=True)

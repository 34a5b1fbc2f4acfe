"""`candor rulebook …`: lint rulebook files, activate versions, list them, print the schema."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from candor.cli.options import DbOption, EffectiveOption, JsonOption, day, settings_for
from candor.cli.output import emit, reports_errors, stdout
from candor.domain.rulebook_lint import POINTS_CAP, Finding, Severity
from candor.services import rulebook_lint, subject_reads
from candor.services import rulebooks as service
from candor.services.registry import load_registry
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
    data = {
        "errors": errors,
        "warnings": len(findings) - errors,
        "findings": [f.to_json() for f in findings],
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

"""`candor demo`: build, ingest and summarise a synthetic jurisdiction, then serve it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from candor import synth
from candor.api import create_app
from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stderr, stdout
from candor.services import ingestion
from candor.services.demo import DemoParameters, DemoSummary, build_demo


@reports_errors
def demo(
    persons: Annotated[int, typer.Option(min=1, help="Persons in the jurisdiction.")] = 100_000,
    orgs: Annotated[int, typer.Option(min=1, help="Organisations in the jurisdiction.")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed: the same seed gives the same files.")] = 0,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the generated record files and ground truth go.")
    ] = Path("demo"),
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API afterwards.")
    ] = True,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build a synthetic jurisdiction, ingest its sources' files, summarise it and serve it."""
    settings = settings_for(db)
    with Progress(
        TextColumn("[bold]{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%  {task.fields[note]}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=as_json,
    ) as progress:
        generating = progress.add_task("generate jurisdiction", total=None, note="")
        tasks: dict[str, TaskID] = {}

        def on_generate(stage: str, done: int, total: int) -> None:
            progress.update(generating, completed=done, total=total, note=stage)

        def on_file(f: synth.SourceFile) -> None:
            progress.update(generating, completed=1, total=1, note="")
            tasks[f.source] = progress.add_task(
                f"ingest {f.path.name}", total=f.path.stat().st_size, note=""
            )

        def on_ingest(f: synth.SourceFile, p: ingestion.Progress) -> None:
            progress.update(
                tasks[f.source],
                completed=p.position,
                note=f"{p.accepted:,} accepted, {p.rejected:,} rejected, {p.duplicates:,} dup.",
            )

        summary = build_demo(
            settings,
            directory,
            DemoParameters(persons, orgs, seed),
            on_generate=on_generate,
            on_file=on_file,
            on_ingest=on_ingest,
        )
        for task in progress.task_ids:
            progress.update(task, completed=progress.tasks[task].total)

    emit(summary.to_json(), as_json=as_json, render=lambda: _render(summary))
    if serve:
        stderr.print(
            f"serving the demo on http://{host}:{port}  (GET /health, OpenAPI /openapi.json, "
            "docs /docs); Ctrl-C stops"
        )
        uvicorn.run(
            create_app(settings), host=host, port=port, log_level=settings.log_level.lower()
        )


def _render(summary: DemoSummary) -> None:
    data = summary.to_json()
    head = Table(title="candor demo jurisdiction", show_header=False)
    head.add_row(
        "files", f"{summary.directory / 'files'}" + ("" if summary.generated else " (reused)")
    )
    for kind, n in sorted(summary.subjects.items()):
        head.add_row(f"subjects: {kind}", f"{n:,}")
    head.add_row("records generated", f"{summary.records_generated:,}")
    head.add_row("  of which damaged identifiers", f"{summary.damaged_identifiers:,}")
    ingested = summary.ingested
    for key in ("rows_read", "accepted", "rejected", "duplicates"):
        head.add_row(f"this run: {key.replace('_', ' ')}", f"{ingested[key]:,}")
    head.add_row("records in the store", f"{data['records']:,}")
    head.add_row(
        "seconds",
        f"generate {summary.seconds_generating:.1f}, ingest {summary.seconds_ingesting:.1f}",
    )
    stdout.print(head)

    by_type = Table("source", "record type", "records", title="records per source and type")
    for source, record_type, n in summary.records:
        by_type.add_row(source, record_type, f"{n:,}")
    stdout.print(by_type)

    if summary.reject_reasons:
        reasons = Table("field", "reason", "rows", title="commonest reasons for rejecting a row")
        for fld, reason, n in summary.reject_reasons:
            reasons.add_row(fld, reason, f"{n:,}")
        stdout.print(reasons)

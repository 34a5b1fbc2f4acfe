"""`candor ingest FILE --source NAME`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stderr, stdout
from candor.services import ingestion
from candor.services.registry import load_registry
from candor.store import open_store


@reports_errors
def ingest(
    file: Annotated[
        Path, typer.Argument(help="A CSV or JSON Lines record file.", show_default=False)
    ],
    source: Annotated[
        str, typer.Option("--source", help="The registered source the file comes from.")
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the extension).")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where to write the rejects CSV (default: FILE.rejects.csv)."),
    ] = None,
    progress_jsonl: Annotated[
        bool,
        typer.Option(
            "--progress-jsonl",
            help="After each batch is committed, print on stderr one JSON object of what is "
            "acknowledged so far (ingestion, batches, last_row, rows_read, accepted, rejected, "
            "duplicates) instead of the progress bar. Every row up to last_row survives a "
            "crash from then on.",
        ),
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest a record file from a source. Exits 0 once the file was read, even with rejects."""
    settings = settings_for(db)
    size = file.stat().st_size if file.is_file() else 0
    with (
        open_store(settings.database_url) as store,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn(
                "{task.fields[rows]:>12,} rows  {task.fields[accepted]:>12,} accepted  "
                "{task.fields[rejected]:>9,} rejected"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=as_json,
            disable=progress_jsonl,
        ) as progress,
    ):
        task = progress.add_task(f"ingest {file.name}", total=size, rows=0, accepted=0, rejected=0)

        def on_progress(p: ingestion.Progress) -> None:
            if progress_jsonl:
                # One write per line, flushed: a reader never sees a batch acknowledged that
                # was not committed, nor half a line.
                line = {
                    "ingestion": p.ingestion_id,
                    "batches": p.batches,
                    "last_row": p.last_row,
                    "rows_read": p.rows_read,
                    "accepted": p.accepted,
                    "rejected": p.rejected,
                    "duplicates": p.duplicates,
                }
                sys.stderr.write(orjson.dumps(line).decode() + "\n")
                sys.stderr.flush()
                return
            progress.update(
                task,
                completed=p.position,
                rows=p.rows_read,
                accepted=p.accepted,
                rejected=p.rejected,
            )

        result = ingestion.ingest_file(
            store,
            settings,
            load_registry(settings),
            file,
            source,
            rejects_path=rejects,
            fmt=fmt,
            on_progress=on_progress,
        )
        progress.update(task, completed=size)

    def render() -> None:
        table = Table(title=f"{file.name} from {source}", show_header=False)
        table.add_row("rows read", f"{result.rows_read:,}")
        table.add_row("accepted", f"{result.accepted:,}")
        table.add_row("rejected", f"{result.rejected:,}")
        table.add_row("duplicates", f"{result.duplicates:,}")
        table.add_row("rejects", str(result.rejects_path))
        stdout.print(table)

    emit(result.summary(), as_json=as_json, render=render)

"""`candor keys …`: the identifier keys, and rotating them without downtime."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stderr, stdout
from candor.services import keys as service
from candor.store import open_store

app = typer.Typer(
    help="Identifier keys: the deployment secret's keys that hash identifiers, and rotation.",
    no_args_is_help=True,
)


@app.command("list")
@reports_errors
def list_(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every key: in the secret file, registered in the store, and the hashes under it."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        states = service.key_states(store, settings)
    data = {"keys": [k.to_json() for k in states]}

    def render() -> None:
        table = Table("key", "in secret", "registered", "re-keyed to it", "hashes")
        for k in states:
            table.add_row(
                str(k.id),
                "yes" if k.in_secret else "no",
                f"{k.registered_at:%Y-%m-%d %H:%M}" if k.registered_at else "",
                f"{k.rekeyed_at:%Y-%m-%d %H:%M}" if k.rekeyed_at else "",
                f"{k.hashes:,}",
            )
        stdout.print(table)

    emit(data, as_json=as_json, render=render)


@app.command("rotate")
@reports_errors
def rotate(
    grace: Annotated[
        float,
        typer.Option(
            help="Seconds between writing the new key to the secret file and using it, for "
            "running servers to read the file (they look once a second).",
            min=0,
        ),
    ] = service.GRACE_S,
    batch: Annotated[
        int, typer.Option(help="Hashes re-keyed per transaction.", min=1)
    ] = service.REKEY_BATCH,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add an identifier key and re-key every stored identifier hash to it, while servers,
    checks and ingestion go on. Run it again to finish a rotation that was interrupted.

    Every key stays in the secret file: each wraps the one before. After a rotation, a copy of
    the old secret no longer links the store to identifiers. Keep the new secret file with the
    backups made from now on.
    """
    settings = settings_for(db)
    with (
        open_store(settings.database_url) as store,
        Progress(
            TextColumn("[bold]re-key identifier hashes"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=as_json,
        ) as progress,
    ):
        task = progress.add_task("re-key", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        done = service.rotate(store, settings, grace_s=grace, batch=batch, on_progress=on_progress)

    def render() -> None:
        what = "added; " if done.added else "finished an interrupted rotation; "
        stdout.print(
            f"identifier key {done.key_id} {what}{done.rekeyed:,} hashes re-keyed in "
            f"{done.seconds:.1f} s"
        )

    emit(done.to_json(), as_json=as_json, render=render)

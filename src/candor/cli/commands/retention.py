"""`candor retention …`: erase personal data past retention, or one subject's on an order."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from candor.cli.options import AsOfOption, DbOption, JsonOption, day, settings_for
from candor.cli.output import emit, reports_errors, spinner, stdout
from candor.errors import NotFound
from candor.services import retention as service
from candor.services import subject_reads
from candor.services.rating import subject_id_for
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.store import open_store

app = typer.Typer(
    help="Retention: personal data erased by crypto-shredding when it has been kept long enough.",
    no_args_is_help=True,
)


@app.command("expire")
@reports_errors
def expire(
    as_of: AsOfOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase the personal data (name, personal attributes) of every record past its type's
    retention, each erasure a ledger entry; shred the data key of every subject left with none.
    Safe to run again: what is erased stays erased, and the rest is picked up."""
    settings = settings_for(db)
    on, today = day(as_of), date.today()
    with (
        open_store(settings.database_url) as store,
        spinner("[bold]retention[/] {task.description}") as progress,
    ):
        task = progress.add_task("looking for records past retention")

        def on_progress(done: service.Expiry) -> None:
            progress.update(task, description=f"{done.examined:,} examined, {done.erased:,} erased")

        report = service.expire(
            store, load_registry(settings), as_of=on, today=today, on_progress=on_progress
        )
    data = report.to_json()

    def render() -> None:
        stdout.print(
            f"as of {report.as_of}: {report.erased:,} record(s) erased, "
            f"{report.keys_shredded:,} data key(s) shredded; {report.examined:,} examined, "
            f"{report.held_by_listings:,} kept because a listing on them has not ended"
        )
        if report.no_retention:
            stdout.print(
                "no retention set (kept until an officer erases them): "
                + ", ".join(report.no_retention),
                highlight=False,
            )

    emit(data, as_json=as_json, render=render)


@app.command("erase")
@reports_errors
def erase(
    subject: Annotated[str, typer.Argument(metavar="SCHEME:IDENTIFIER")],
    reason: Annotated[
        str, typer.Option(help="Why (a court order, a lawful request): kept with the erasure.")
    ],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase all of one subject's personal data now and shred its data key, as an officer.
    Its records stay (type, dates, legal basis), without the name and personal attributes."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        hasher = load_secret(settings).identifier_hasher()
        subject_id = subject_id_for(store, hasher, subject, date.today())
        if subject_id is None:
            raise NotFound("candor holds no records about this identifier")
        done = service.erase_subject(
            store, subject_reads.operator(), subject_id, reason=reason, today=date.today()
        )
    data = done.to_json()

    def render() -> None:
        stdout.print(
            f"erasure {done.id}: {done.erased:,} record(s) erased"
            + (", data key shredded" if done.key_shredded else ", no data key to shred")
        )

    emit(data, as_json=as_json, render=render)

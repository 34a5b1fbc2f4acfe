"""`candor check SCHEME:ID MEASURE`: does a measure apply? The answer says nothing else."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from candor.cli.options import AsOfOption, DbOption, JsonOption, day, settings_for
from candor.cli.output import emit, reports_errors, stdout
from candor.services.checks import check as check_measure
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.store import open_store


@reports_errors
def check(
    subject: Annotated[
        str, typer.Argument(metavar="SCHEME:IDENTIFIER", help="e.g. cn_resident_id:…")
    ],
    measure: Annotated[str, typer.Argument(help="e.g. no_air_travel")],
    purpose: Annotated[
        str, typer.Option(help="Why you ask; logged with the check and shown to the subject.")
    ] = "command-line check",
    as_of: AsOfOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer whether MEASURE applies to a subject on a date; the check is logged."""
    settings = settings_for(db)
    hasher = load_secret(settings).identifier_hasher()
    with open_store(settings.database_url) as store:
        answer = check_measure(
            store,
            load_registry(settings),
            hasher,
            subject,
            measure,
            as_of=day(as_of),
            today=date.today(),
            client="cli",
            purpose=purpose,
        )

    def render() -> None:
        if answer.applies:
            stdout.print(
                f"[bold red]{measure} applies[/] on {answer.as_of} (listing {answer.listing}) "
                f"until {answer.until or 'further notice'}"
            )
            if answer.how_to_object:
                stdout.print(f"to object: {answer.how_to_object}")
        else:
            stdout.print(f"[bold green]{measure} does not apply[/] on {answer.as_of}")

    emit(answer.to_json(), as_json=as_json, render=render)

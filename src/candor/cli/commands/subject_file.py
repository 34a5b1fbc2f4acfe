"""`candor file SCHEME:ID`: a subject's whole file, as JSON or a printable HTML document."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from candor.cli.options import AsOfOption, DbOption, JsonOption, day, settings_for
from candor.cli.output import emit, reports_errors, stdout
from candor.errors import NotFound
from candor.services import subject_reads
from candor.services.rating import subject_id_for
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.services.subject_file import SubjectFile, subject_file
from candor.store import open_store


@reports_errors
def file(
    subject: Annotated[
        str, typer.Argument(metavar="SCHEME:IDENTIFIER", help="e.g. cn_resident_id:…")
    ],
    as_of: AsOfOption = None,
    purpose: Annotated[
        str, typer.Option(help="Why you read this subject's file (logged in it).")
    ] = "command line: candor file",
    html: Annotated[
        Path | None, typer.Option(help="Also write the file as a printable HTML document here.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Everything candor holds and did about a subject: records with source and legal basis,
    rating and explanation, rating history, listings past and present, checks and reads made
    about it, and each record's and listing's ledger entries with inclusion proofs.

    The read is logged in the subject's file under `cli:<your user name>` with its purpose."""
    settings = settings_for(db)
    secret = load_secret(settings)
    with open_store(settings.database_url) as store:
        subject_id = subject_id_for(store, secret.identifier_hasher(), subject, date.today())
        if subject_id is None:
            raise NotFound("candor holds no records about this identifier")
        found = subject_file(
            store,
            load_registry(settings),
            secret,
            subject_reads.operator(),
            subject_id,
            as_of=day(as_of),
            purpose=purpose,
        )
    if html is not None:
        html.write_text(found.html(), encoding="utf-8")
    emit(found.to_json(), as_json=as_json, render=lambda: _render(found, html))


def _render(found: SubjectFile, html: Path | None) -> None:
    s = found.subject
    stdout.print(f"subject [bold]{s['ref']}[/] ({s['kind']}), file as of {found.as_of}")
    in_force = [x for x in found.listings if x["state"] in ("in force", "announced")]
    stdout.print(
        f"{len(found.records)} record(s), {len(found.listings)} listing(s) "
        f"({len(in_force)} in force or announced), {len(found.checks)} check(s), "
        f"{len(found.reads)} read(s), {len(found.ledger)} ledger entr(ies) with proofs"
    )
    for book in found.explanation["rulebooks"]:
        grade = book["grade"] or "not graded"
        score = book["score"] if book["score"] is not None else "no score"
        stdout.print(f"  {book['rulebook']}@{book['version']}: {score}, {grade}")
    for listing in found.listings:
        stdout.print(
            f"  listing {listing['ref']} on {listing['list_name']}: {listing['state']} "
            f"from {listing['starts_on']}"
        )
    if html is not None:
        stdout.print(f"written to {html}")
